"""Demo MLLMs: real on-disk formats, built once (idempotent, race-safe), loaded through the real
loaders."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml
from safetensors import safe_open

from harness.config import conf_dir
from harness.demo.models import DEMO_MODELS_VERSION, ensure_demo_checkpoint

NAMES = ["demo_clip_l", "demo_siglip", "demo_unit_600m", "demo_unit_1b"]


def _enc(name):
    return yaml.safe_load((conf_dir() / "encoder" / f"{name}.yaml").read_text())


def _keys(path):
    with safe_open(str(path), framework="pt") as f:
        return set(f.keys())


@pytest.mark.parametrize("name", NAMES)
def test_demo_checkpoints_are_real_formats(name, cache_dir):
    folder = ensure_demo_checkpoint(_enc(name), cache_dir)
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "llava_llama" and cfg["mm_vision_tower"] == "../encoder"
    assert cfg["image_aspect_ratio"] == "anyres" and cfg["mm_patch_merge_type"] == "spatial_unpad"
    assert {"tokenizer.json", "tokenizer_config.json", "model.safetensors"} <= {
        p.name for p in folder.iterdir()
    }
    keys = _keys(folder / "model.safetensors")
    assert {
        "lm_head.weight",
        "model.embed_tokens.weight",
        "model.image_newline",
        "model.mm_projector.0.weight",
    } <= keys
    enc = folder.parent / "encoder"
    ecfg = json.loads((enc / "config.json").read_text())
    pre = json.loads((enc / "preprocessor_config.json").read_text())
    if name.startswith("demo_unit"):
        assert (
            ecfg["architectures"] == ["UNITModel"]
            and "model" in ecfg["args"]
            and "model_type" not in ecfg
        )
        ekeys = _keys(enc / "model.safetensors")
        assert {
            "unit_model.input_conditioner.norm_mean",
            "unit_model.model.patch_generator.embedder.weight",
            "unit_model.model.patch_generator.pos_embed",
            "unit_model.model.patch_generator.cls_token.token",
            "unit_model.model.blocks.0.attn.qkv.weight",
        } <= ekeys
        assert ("unit_model.model.fc_norm.weight" in ekeys) == (name == "demo_unit_1b")
        assert ("unit_model.model.norm.weight" in ekeys) == (name == "demo_unit_600m")
        assert (
            "model.mm_projector.0.weight" in keys and "model.mm_projector.3.weight" in keys
        )  # LayerNorm first
        assert pre["do_normalize"] is False
    else:
        assert ecfg["model_type"] == (
            "clip_vision_model" if "clip" in name else "siglip_vision_model"
        )
        assert "model.mm_projector.3.weight" not in keys


def test_build_is_idempotent(cache_dir):
    enc = _enc("demo_clip_l")
    folder = ensure_demo_checkpoint(enc, cache_dir)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert ensure_demo_checkpoint(enc, cache_dir) == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def _build(enc, root):
    folder = ensure_demo_checkpoint(enc, root, fit_steps=0)  # the race, not the fit
    return str(folder), (folder / "model.safetensors").read_bytes()


def test_concurrent_builds_agree(tmp_path):
    enc = _enc("demo_unit_1b")
    with ThreadPoolExecutor(2) as pool:  # two builders racing for the same cache folder
        (a, wa), (b, wb) = pool.map(_build, [enc, enc], [tmp_path, tmp_path])
    assert a == b and wa == wb
    siblings = [
        p.name for p in (tmp_path / "demo" / "models" / f"v{DEMO_MODELS_VERSION}").iterdir()
    ]
    assert len(siblings) == 1 and siblings[0].startswith("demo_unit_1b-")  # no temporary folder


def test_settings_written_into_the_checkpoint_key_its_folder(tmp_path):
    """A run with another select_layer gets its own demo checkpoint (same seeded tower, LLM fit
    to that layer's features), so the cached default one never carries a setting a previous
    run asked for. (Fitting is shortened: the folder key and the written settings are tested.)"""
    enc = _enc("demo_clip_l")
    default = ensure_demo_checkpoint(enc, tmp_path, fit_steps=2)
    other = ensure_demo_checkpoint({**enc, "select_layer": -3}, tmp_path, fit_steps=2)
    assert default != other
    assert json.loads((default / "config.json").read_text())["mm_vision_select_layer"] == -2
    assert json.loads((other / "config.json").read_text())["mm_vision_select_layer"] == -3
    tower = "encoder/model.safetensors"
    assert (default.parent / tower).read_bytes() == (other.parent / tower).read_bytes()
    assert (default / "model.safetensors").read_bytes() != (
        other / "model.safetensors"
    ).read_bytes()


def test_same_seed_same_weights(tmp_path, cache_dir):
    enc = _enc("demo_siglip")
    a = ensure_demo_checkpoint(enc, cache_dir)
    b = ensure_demo_checkpoint(enc, tmp_path)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a.parent / "encoder" / "model.safetensors").read_bytes() == (
        b.parent / "encoder" / "model.safetensors"
    ).read_bytes()
