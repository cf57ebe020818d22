"""Tiny checkpoints written in the real on-disk formats, shared by the model tests (built once per
session)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.device import resolve_device

VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 2,
    "image_size": 56,
    "patch_size": 14,
}
TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 3,
    "tie_word_embeddings": False,
}
IMAGE_TOKEN_ID = 4  # "<image>" in the demo tokenizer


def random_image(seed: int, w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the test machine is shared)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cpu():
    return resolve_device("cpu", "fp32")


@pytest.fixture(scope="session")
def tok_dir(tmp_path_factory) -> Path:
    from harness.demo.models import build_tokenizer

    folder = tmp_path_factory.mktemp("tok")
    build_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory) -> Path:
    from harness.demo.models import build_encoder

    folder = tmp_path_factory.mktemp("clip")
    torch.manual_seed(1)
    build_encoder("clip", folder)
    return folder


def _save_hf(model, folder: Path, tok_dir: Path, processor: dict) -> Path:
    import shutil

    model.save_pretrained(str(folder))
    for f in tok_dir.iterdir():
        shutil.copy(f, folder / f.name)
    (folder / "preprocessor_config.json").write_text(json.dumps(processor))
    return folder


def _clip_processor(**extra) -> dict:
    from harness.demo.models import _image_processor

    return {**_image_processor("clip"), **extra}


@pytest.fixture(scope="session")
def hf_llava_dir(tmp_path_factory, tok_dir) -> Path:
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    torch.manual_seed(2)
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(**VISION).to_dict(),
        text_config=LlamaConfig(vocab_size=420, **TEXT).to_dict(),
        image_token_index=IMAGE_TOKEN_ID,
        image_seq_length=16,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    model = LlavaForConditionalGeneration(cfg).eval()
    return _save_hf(model, tmp_path_factory.mktemp("hf_llava"), tok_dir, _clip_processor())


@pytest.fixture(scope="session")
def hf_next_dir(tmp_path_factory, tok_dir) -> Path:
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
    )

    torch.manual_seed(3)
    pins = [[56, 112], [112, 112]]  # [height, width], as transformers lists them
    cfg = LlavaNextConfig(
        vision_config=CLIPVisionConfig(**VISION).to_dict(),
        text_config=LlamaConfig(vocab_size=420, **TEXT).to_dict(),
        image_token_index=IMAGE_TOKEN_ID,
        image_grid_pinpoints=pins,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
    )
    model = LlavaNextForConditionalGeneration(cfg).eval()
    with torch.no_grad():
        model.model.image_newline.normal_(0, 1.0)
    proc = _clip_processor(
        image_processor_type="LlavaNextImageProcessor", image_grid_pinpoints=pins
    )
    return _save_hf(model, tmp_path_factory.mktemp("hf_next"), tok_dir, proc)


@pytest.fixture(scope="session")
def llava_pieces(tmp_path_factory, hf_llava_dir) -> dict[str, Path]:
    """The HF Llava fixture re-written as a LLaVA code-base folder, a projector file and a plain LLM
    folder."""
    from safetensors.torch import save_file
    from transformers import LlamaForCausalLM, LlavaForConditionalGeneration

    hf = LlavaForConditionalGeneration.from_pretrained(str(hf_llava_dir)).eval()
    root = tmp_path_factory.mktemp("llava_pieces")
    tower, llm, full, proj_only = (root / n for n in ("tower", "llm", "full", "proj_only"))
    hf.model.vision_tower.save_pretrained(str(tower))  # a CLIPVisionModel folder
    (tower / "preprocessor_config.json").write_text(json.dumps(_clip_processor()))
    lm = LlamaForCausalLM(hf.config.text_config)
    lm.model.load_state_dict(hf.model.language_model.state_dict())
    lm.lm_head.load_state_dict(hf.lm_head.state_dict())
    lm.save_pretrained(str(llm))
    p = hf.model.multi_modal_projector
    proj = {
        "model.mm_projector.0.weight": p.linear_1.weight,
        "model.mm_projector.0.bias": p.linear_1.bias,
        "model.mm_projector.2.weight": p.linear_2.weight,
        "model.mm_projector.2.bias": p.linear_2.bias,
    }
    proj = {k: v.detach().clone() for k, v in proj.items()}
    tcfg = json.loads((llm / "config.json").read_text())
    mm = {
        "model_type": "llava_llama",
        "architectures": ["LlavaLlamaForCausalLM"],
        "mm_vision_tower": str(tower),
        "mm_hidden_size": 32,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,
        "mm_vision_select_feature": "patch",
        "image_aspect_ratio": "pad",
        "mm_patch_merge_type": "flat",
    }
    for folder in (llm, full, proj_only):
        folder.mkdir(exist_ok=True)
        for f in tok_files(hf_llava_dir):
            (folder / f.name).write_bytes(f.read_bytes())
    for folder in (full, proj_only):
        (folder / "config.json").write_text(json.dumps({**tcfg, **mm}))
    weights = {k: v.detach().contiguous() for k, v in lm.state_dict().items()}
    save_file({**weights, **proj}, str(full / "model.safetensors"))
    torch.save(proj, proj_only / "mm_projector.bin")
    return {
        "tower": tower,
        "llm": llm,
        "full": full,
        "proj_only": proj_only,
        "projector": proj_only / "mm_projector.bin",
    }


def tok_files(folder: Path) -> list[Path]:
    return [
        folder / n
        for n in (
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.jinja",
            "special_tokens_map.json",
        )
        if (folder / n).is_file()
    ]
