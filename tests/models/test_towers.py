"""checkpoint_tower: the project encoder an MLLM checkpoint names, from its config files alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.config import conf_dir
from harness.errors import HarnessError
from harness.models.formats import checkpoint_tower

HUB = {
    "clip_l": "openai/clip-vit-large-patch14-336",
    "siglip": "google/siglip-so400m-patch14-384",
    "unit_600m": "yeeaa/UNIT_600M",
    "unit_1b": "yeeaa/UNIT_1B",
}
CLIP_L = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 336,
}  # CLIPVisionConfig kwargs
SO400M = {
    "hidden_size": 1152,
    "intermediate_size": 4304,
    "num_hidden_layers": 27,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 384,
}  # SiglipVisionConfig
UNIT_ARGS = {
    "model": "vit_huge_patch14_224",
    "model_kwargs": {},
    "num_classes": None,
    "cpe_max_size": 2048,
    "num_cls_tokens": 1,
    "register_multiple": 4,
}


def _write(folder: Path, cfg: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


def _llava(folder: Path, tower: str) -> Path:
    """A LLaVA code-base config (the LLM part trimmed to what a config holds)."""
    return _write(
        folder,
        {
            "model_type": "llava_llama",
            "architectures": ["LlavaLlamaForCausalLM"],
            "hidden_size": 4096,
            "mm_vision_tower": tower,
            "mm_hidden_size": 1024,
            "mm_projector_type": "mlp2x_gelu",
            "mm_vision_select_layer": -2,
            "image_aspect_ratio": "anyres",
        },
    )


def _unit(folder: Path, **args) -> Path:
    return _write(
        folder, {"architectures": ["UNITModel"], "args": {**UNIT_ARGS, **args}, "version": "v1"}
    )


@pytest.mark.parametrize("encoder", list(HUB))
def test_llava_codebase_hub_ids(encoder, tmp_path):
    assert checkpoint_tower(_llava(tmp_path / "ckpt", HUB[encoder])) == encoder


@pytest.mark.parametrize(
    "tower,expected",
    [
        ("openai/clip-vit-large-patch14", None),  # CLIP-L at 224 px: not the project's clip_l
        ("google/siglip-base-patch16-224", None),
        ("my-own-tower", None),
        ("/models/clip-vit-large-patch14-336", "clip_l"),
        ("/hub/models--yeeaa--UNIT_1B/snapshots/abc", "unit_1b"),
    ],
)
def test_llava_codebase_other_names(tower, expected, tmp_path):
    assert checkpoint_tower(_llava(tmp_path / "ckpt", tower)) == expected


def test_local_tower_folders_are_read_not_named(tmp_path):
    from transformers import CLIPConfig, CLIPVisionConfig, SiglipVisionConfig

    towers = tmp_path / "towers"
    CLIPVisionConfig(**CLIP_L).save_pretrained(str(towers / "some-name"))
    assert checkpoint_tower(_llava(tmp_path / "a", str(towers / "some-name"))) == "clip_l"
    # relative to the checkpoint folder
    assert checkpoint_tower(_llava(tmp_path / "b", "../towers/some-name")) == "clip_l"
    # the hub repo's own config: a full CLIPConfig with a vision part
    CLIPConfig(vision_config=CLIP_L).save_pretrained(str(towers / "full-clip"))
    assert checkpoint_tower(_llava(tmp_path / "c", str(towers / "full-clip"))) == "clip_l"
    SiglipVisionConfig(**SO400M).save_pretrained(str(towers / "sig"))
    assert checkpoint_tower(_llava(tmp_path / "d", str(towers / "sig"))) == "siglip"
    # the folder's config wins over its name: a 224-px CLIP-L saved under the 336 name
    small = towers / "clip-vit-large-patch14-336"
    CLIPVisionConfig(**{**CLIP_L, "image_size": 224}).save_pretrained(str(small))
    assert checkpoint_tower(_llava(tmp_path / "e", str(small))) is None


def test_local_unit_folders(tmp_path):
    assert checkpoint_tower(_llava(tmp_path / "a", str(_unit(tmp_path / "u600")))) == "unit_600m"
    deep = _unit(tmp_path / "deep", model_kwargs={"depth": 50})
    assert checkpoint_tower(_llava(tmp_path / "b", str(deep))) == "unit_1b"
    # a registered timm name that does not say its size: the folder's name does
    named = _unit(tmp_path / "UNIT_1B", model="vit_x")
    assert checkpoint_tower(_llava(tmp_path / "c", str(named))) == "unit_1b"
    other = _unit(tmp_path / "plain", model="vit_x")
    assert checkpoint_tower(_llava(tmp_path / "d", str(other))) is None


def test_hf_llava_and_llava_next_configs(tmp_path):
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaNextConfig,
        SiglipVisionConfig,
    )

    text = LlamaConfig(
        hidden_size=64, num_hidden_layers=1, num_attention_heads=4, intermediate_size=128
    ).to_dict()
    # no vision_config given: transformers' default, CLIP-L/14 at 336 px
    LlavaConfig(text_config=text).save_pretrained(str(tmp_path / "default"))
    assert checkpoint_tower(tmp_path / "default") == "clip_l"
    vis = SiglipVisionConfig(**SO400M).to_dict()
    LlavaNextConfig(vision_config=vis, text_config=text).save_pretrained(str(tmp_path / "next"))
    assert checkpoint_tower(tmp_path / "next") == "siglip"
    tiny = CLIPVisionConfig(
        hidden_size=32, num_attention_heads=2, num_hidden_layers=3, patch_size=14, image_size=56
    ).to_dict()
    LlavaConfig(vision_config=tiny, text_config=text).save_pretrained(str(tmp_path / "tiny"))
    assert checkpoint_tower(tmp_path / "tiny") is None
    # hand-written: no vision_config, or one with some keys (transformers' defaults for the rest)
    assert checkpoint_tower(_write(tmp_path / "bare", {"model_type": "llava"})) == "clip_l"
    part = {
        "model_type": "clip_vision_model",
        **{k: v for k, v in CLIP_L.items() if k != "intermediate_size"},
    }
    partial = _write(tmp_path / "partial", {"model_type": "llava_next", "vision_config": part})
    assert checkpoint_tower(partial) == "clip_l"


@pytest.mark.parametrize("name", ["demo_clip_l", "demo_siglip", "demo_unit_600m", "demo_unit_1b"])
def test_demo_checkpoints_name_their_demo_encoder(name, cache_dir):
    from harness.demo.models import ensure_demo_checkpoint

    enc = yaml.safe_load((conf_dir() / "encoder" / f"{name}.yaml").read_text())
    assert checkpoint_tower(ensure_demo_checkpoint(enc, cache_dir)) == name


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(HarnessError, match=r"nope: checkpoint folder not found"):
        checkpoint_tower(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match=r"empty: no config.json"):
        checkpoint_tower(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{oops")
    with pytest.raises(HarnessError, match=r"bad/config.json: invalid JSON"):
        checkpoint_tower(tmp_path / "bad")
    # an LLM without a tower, and a tower path that is not there with no known name: cannot tell
    assert checkpoint_tower(_write(tmp_path / "llm", {"model_type": "llama"})) is None
    assert checkpoint_tower(_llava(tmp_path / "gone", str(tmp_path / "missing-tower"))) is None


def test_reads_configs_only_without_torch(tmp_path):
    folder = _llava(tmp_path / "ckpt", HUB["unit_1b"])
    code = (
        "import sys; from harness.models.towers import checkpoint_tower; "
        f"print(checkpoint_tower({str(folder)!r}), 'torch' in sys.modules, "
        "'transformers' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["unit_1b", "False", "False"]
