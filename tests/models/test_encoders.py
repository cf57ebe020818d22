"""Encoder registry and feature selection for CLIP, SigLIP and UNIT."""

from __future__ import annotations

import logging

import pytest
import torch

from harness.errors import HarnessError
from harness.models.encoders import encoder_archs, encoder_builder, load_encoder


@pytest.fixture(scope="module")
def siglip_dir(tmp_path_factory):
    from harness.demo.models import build_encoder

    folder = tmp_path_factory.mktemp("siglip")
    torch.manual_seed(4)
    build_encoder("siglip", folder)
    return folder


@pytest.fixture(scope="module")
def unit_dir(tmp_path_factory):
    from harness.demo.models import build_encoder

    folder = tmp_path_factory.mktemp("unit")
    torch.manual_seed(5)
    build_encoder("unit_600m", folder)
    return folder


def test_registry_and_did_you_mean():
    assert encoder_archs() == ["clip", "siglip", "unit"]
    with pytest.raises(
        HarnessError,
        match=(
            r"unknown encoder arch 'sigclip' \(did you mean 'siglip'\?\); "
            r"valid: clip, siglip, unit"
        ),
    ):
        encoder_builder("sigclip")


def test_clip_layer_and_cls_selection(clip_dir):
    from transformers import CLIPVisionModel

    ref = CLIPVisionModel.from_pretrained(str(clip_dir)).eval()
    x = torch.randn(2, 3, 56, 56)
    with torch.no_grad():
        hs = ref(pixel_values=x, output_hidden_states=True).hidden_states
        patch = load_encoder(clip_dir, "clip", -2, "patch")(x)
        both = load_encoder(clip_dir, "clip", -1, "cls_patch")(x)
    assert patch.shape == (2, 16, 32) and both.shape == (2, 17, 32)
    torch.testing.assert_close(patch, hs[-2][:, 1:])
    torch.testing.assert_close(both, hs[-1])


def test_siglip_has_no_cls(siglip_dir):
    from transformers import SiglipVisionModel

    ref = SiglipVisionModel.from_pretrained(str(siglip_dir)).eval()
    x = torch.randn(1, 3, 56, 56)
    enc = load_encoder(siglip_dir, None, -2, "patch")
    with torch.no_grad():
        torch.testing.assert_close(
            enc(x), ref(pixel_values=x, output_hidden_states=True).hidden_states[-2]
        )
    assert enc.arch == "siglip" and enc.processing.processor == "SiglipImageProcessor"
    with pytest.raises(HarnessError, match="cls_patch, but this model has no CLS token"):
        load_encoder(siglip_dir, "siglip", -2, "cls_patch")


def test_unit_layers_and_double_normalisation_warning(unit_dir, caplog):
    from harness.models.unit import UNITModel

    model = UNITModel.from_pretrained(unit_dir)
    x = torch.rand(1, 3, 56, 56)
    with torch.no_grad():
        out = load_encoder(unit_dir, "unit", -1, "patch")(x)
        first = load_encoder(unit_dir, "unit", 1, "cls_patch")(x)
        _, spatial = model(x)
        gen = model.unit_model.model.patch_generator
        after_one = model.unit_model.model.blocks[0](
            gen(model.unit_model.input_conditioner(x), torch.float32)
        )
    torch.testing.assert_close(out, spatial)
    torch.testing.assert_close(
        first, torch.cat([after_one[:, :1], after_one[:, model.num_prefix_tokens :]], dim=1)
    )
    assert model.num_prefix_tokens == 4  # 1 cls + 3 registers (register_multiple 4)
    # the demo writes do_normalize: false; a config that normalises is followed but warned about
    import json

    cfg = json.loads((unit_dir / "preprocessor_config.json").read_text())
    (unit_dir / "preprocessor_config.json").write_text(json.dumps(dict(cfg, do_normalize=True)))
    try:
        with caplog.at_level(logging.WARNING, logger="harness.models.encoders"):
            enc = load_encoder(unit_dir, "unit")
        assert enc.processing.do_normalize and "normalises again" in caplog.text
    finally:
        (unit_dir / "preprocessor_config.json").write_text(json.dumps(cfg))


def test_encoder_folder_errors(clip_dir, tmp_path):
    with pytest.raises(HarnessError, match="config.json not found"):
        load_encoder(tmp_path)
    with pytest.raises(
        HarnessError, match=r"encoder arch 'unit' does not match .* which is 'clip'"
    ):
        load_encoder(clip_dir, "unit")
    (tmp_path / "config.json").write_text('{"model_type": "resnet"}')
    with pytest.raises(HarnessError, match="cannot tell the encoder type"):
        load_encoder(tmp_path)
