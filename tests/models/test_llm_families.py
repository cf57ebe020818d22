"""LLaVA code-base folders around different LLM families (Llama, Qwen2, Mistral) load and decode
consistently."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from harness.device import resolve_device
from harness.errors import HarnessError
from harness.models.mllm import load_mllm
from harness.types import GenerationSettings, ImageRef, Request
from tests.models.conftest import random_image, tok_files

SMALL = {
    "vocab_size": 420,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 1024,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "tie_word_embeddings": False,
}
ENC = {
    "name": "clip_l",
    "arch": "clip",
    "select_layer": -2,
    "select_feature": "patch",
    "layernorm": False,
}


def _llava_folder(root, family, clip_dir, tok_dir):
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    from harness.models.projector import build_projector

    torch.manual_seed(7)
    cfg = AutoConfig.for_model(family, **SMALL)
    llm = AutoModelForCausalLM.from_config(cfg)
    proj = build_projector("mlp2x_gelu", 32, 64)
    folder = root / family
    folder.mkdir()
    sd = {k: v.contiguous() for k, v in llm.state_dict().items()}
    sd.update({f"model.mm_projector.{k}": v for k, v in proj.state_dict().items()})
    save_file(sd, str(folder / "model.safetensors"))
    mm = {
        "model_type": f"llava_{family}",
        "architectures": ["LlavaForCausalLM"],
        "mm_vision_tower": str(clip_dir),
        "mm_hidden_size": 32,
        "mm_projector_type": "mlp2x_gelu",
        "mm_vision_select_layer": -2,
        "image_aspect_ratio": "pad",
    }
    (folder / "config.json").write_text(json.dumps({**cfg.to_dict(), **mm}))
    for f in tok_files(tok_dir):
        shutil.copy(f, folder / f.name)
    return folder, llm


@pytest.mark.parametrize(
    "family,cls",
    [
        ("llama", "LlamaForCausalLM"),
        ("qwen2", "Qwen2ForCausalLM"),
        ("mistral", "MistralForCausalLM"),
    ],
)
def test_family_loads_and_matches_the_plain_llm(
    family, cls, tmp_path, clip_dir, tok_dir, cpu, cache_dir
):
    folder, ref = _llava_folder(tmp_path, family, clip_dir, tok_dir)
    mllm = load_mllm({"checkpoint": str(folder)}, ENC, cpu)
    assert type(mllm.parts.llm).__name__ == cls
    text_only = mllm.preprocessor(Request("t", "What colour is the sky?"))
    ids = torch.tensor([[t for t in text_only.input_ids]])
    with torch.no_grad():
        expected = ref.eval()(input_ids=ids).logits[0]
    torch.testing.assert_close(mllm.prompt_logits([text_only])[0], expected, atol=1e-5, rtol=1e-5)
    reqs = [
        Request(
            str(i),
            "Is there a dog?" + "?" * i,
            [ImageRef(image=random_image(i, 40 + 9 * i, 50))],
            GenerationSettings(max_new_tokens=10),
        )
        for i in range(4)
    ]
    mllm.batch_size = 4
    together = mllm.generate(reqs)
    mllm.batch_size = 1
    assert together == mllm.generate(reqs)


def test_unknown_llm_type_and_missing_tokenizer(tmp_path, clip_dir, tok_dir, cpu, cache_dir):
    folder, _ = _llava_folder(tmp_path, "llama", clip_dir, tok_dir)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(cfg, model_type="llava_custom")))
    with pytest.raises(
        HarnessError, match="cannot tell the LLM type from model_type 'llava_custom'"
    ):
        load_mllm({"checkpoint": str(folder)}, ENC, cpu)
    mllm = load_mllm({"checkpoint": str(folder), "llm_type": "llama"}, ENC, cpu)
    assert type(mllm.parts.llm).__name__ == "LlamaForCausalLM"
    for f in tok_files(folder):
        f.unlink()
    with pytest.raises(HarnessError, match="cannot load the tokenizer"):
        load_mllm({"checkpoint": str(folder), "llm_type": "llama"}, ENC, cpu)


def test_bf16_runs_end_to_end(tmp_path, clip_dir, tok_dir, cache_dir):
    folder, _ = _llava_folder(tmp_path, "llama", clip_dir, tok_dir)
    mllm = load_mllm({"checkpoint": str(folder)}, ENC, resolve_device("cpu", "bf16"))
    assert (
        next(mllm.parts.llm.parameters()).dtype == torch.bfloat16
        and mllm.encoder.dtype == torch.bfloat16
    )
    out = mllm.generate(
        [
            Request(
                "a",
                "Is there a dog?",
                [ImageRef(image=random_image(0, 60, 40))],
                GenerationSettings(max_new_tokens=5),
            )
        ]
    )
    assert isinstance(out[0], str) and mllm.fingerprint()["dtype"] == "bf16"
