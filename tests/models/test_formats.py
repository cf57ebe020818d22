"""Each checkpoint format loads through load_mllm and matches transformers' own Llava/LlavaNext."""

from __future__ import annotations

import pytest
import torch

from harness.errors import HarnessError
from harness.models.mllm import load_mllm
from harness.types import GenerationSettings, ImageRef, Request
from tests.models.conftest import IMAGE_TOKEN_ID, random_image

CLIP_ENC = {
    "name": "clip_l",
    "arch": "clip",
    "select_layer": -2,
    "select_feature": "patch",
    "layernorm": False,
}
PROMPTS = [
    "What colour is the square?",
    "Is there a dog in the image? Please answer yes or no.",
    "How many?",
]


def _requests(sizes, n_new=12):
    return [
        Request(
            id=str(i),
            prompt=PROMPTS[i % len(PROMPTS)],
            images=[ImageRef(image=random_image(i, w, h))],
            gen=GenerationSettings(max_new_tokens=n_new),
        )
        for i, (w, h) in enumerate(sizes)
    ]


def _hf_inputs(mllm, preps, n_image_tokens):
    """transformers inputs for the same prompts: each image slot expanded to its image tokens,
    left-padded."""
    rows = []
    for p, n in zip(preps, n_image_tokens):
        ids = []
        for t in p.input_ids:
            ids.extend([IMAGE_TOKEN_ID] * n if t == -200 else [t])
        rows.append(ids)
    length = max(map(len, rows))
    input_ids = torch.tensor([[3] * (length - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (length - len(r)) + [1] * len(r) for r in rows])
    return input_ids, mask


def _hf_generate(model, n_new, **inputs):
    out = model.generate(**inputs, max_new_tokens=n_new, do_sample=False, pad_token_id=3)
    gen = out[:, inputs["input_ids"].shape[1] :].tolist()
    return [g[: g.index(2)] if 2 in g else g for g in gen]


def test_hf_llava_token_identical_and_logits(hf_llava_dir, cpu, cache_dir):
    from transformers import LlavaForConditionalGeneration

    mllm = load_mllm({"checkpoint": str(hf_llava_dir), "template": "vicuna_v1"}, CLIP_ENC, cpu)
    assert mllm.parts.format == "hf_llava" and mllm.parts.aspect == "crop"
    reqs = _requests([(56, 56), (80, 60), (60, 90)])
    preps = [mllm.preprocessor(r) for r in reqs]
    ours = mllm.generate_ids(preps)
    hf = LlavaForConditionalGeneration.from_pretrained(str(hf_llava_dir)).eval()
    input_ids, mask = _hf_inputs(mllm, preps, [16] * 3)
    pixels = torch.cat([p.pixel_values[0] for p in preps])
    theirs = _hf_generate(hf, 12, input_ids=input_ids, attention_mask=mask, pixel_values=pixels)
    assert ours == theirs and all(len(t) > 0 for t in ours)
    with torch.no_grad():
        ref = hf(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits
    for i, logits in enumerate(mllm.prompt_logits(preps)):
        n = logits.shape[0]
        torch.testing.assert_close(logits, ref[i, -n:], atol=1e-5, rtol=1e-5)


def test_hf_llava_next_anyres_matches(hf_next_dir, cpu, cache_dir):
    from transformers import LlavaNextForConditionalGeneration

    mllm = load_mllm({"checkpoint": str(hf_next_dir)}, CLIP_ENC, cpu)
    assert mllm.parts.aspect == "anyres" and mllm.parts.merge == "spatial_unpad"
    assert mllm.parts.pinpoints == (
        (112, 56),
        (112, 112),
    )  # [height, width] swapped to (width, height)
    reqs = _requests([(100, 40), (50, 90)], n_new=10)
    preps = [mllm.preprocessor(r) for r in reqs]
    assert [p.pixel_values[0].shape[0] for p in preps] == [
        3,
        5,
    ]  # overview + 2x1 tiles, overview + 2x2
    n_tokens = [
        f.shape[0]
        for f in mllm.encode_images(
            [p.pixel_values[0] for p in preps], [p.image_sizes[0] for p in preps]
        )
    ]
    hf = LlavaNextForConditionalGeneration.from_pretrained(str(hf_next_dir)).eval()
    input_ids, mask = _hf_inputs(mllm, preps, n_tokens)
    pixels = torch.nn.utils.rnn.pad_sequence([p.pixel_values[0] for p in preps], batch_first=True)
    sizes = torch.tensor([[h, w] for w, h in (p.image_sizes[0] for p in preps)])
    theirs = _hf_generate(
        hf, 10, input_ids=input_ids, attention_mask=mask, pixel_values=pixels, image_sizes=sizes
    )
    assert mllm.generate_ids(preps) == theirs
    with torch.no_grad():
        ref = hf(
            input_ids=input_ids, attention_mask=mask, pixel_values=pixels, image_sizes=sizes
        ).logits
    for i, logits in enumerate(mllm.prompt_logits(preps)):
        torch.testing.assert_close(logits, ref[i, -logits.shape[0] :], atol=1e-5, rtol=1e-5)


def _reference_logits(hf_llava_dir, mllm, preps):
    """The HF Llava model (same weights) on the LLaVA code base's token ids."""
    from transformers import LlavaForConditionalGeneration

    hf = LlavaForConditionalGeneration.from_pretrained(str(hf_llava_dir)).eval()
    input_ids, mask = _hf_inputs(mllm, preps, [16] * len(preps))
    pixels = torch.cat([p.pixel_values[0] for p in preps])
    with torch.no_grad():
        return hf(input_ids=input_ids, attention_mask=mask, pixel_values=pixels).logits


@pytest.mark.parametrize("form", ["full", "proj_only", "composed"])
def test_llava_codebase_and_composed_forms(form, llava_pieces, hf_llava_dir, cpu, cache_dir):
    if form == "composed":
        cfg = {
            "llm": str(llava_pieces["llm"]),
            "projector": str(llava_pieces["projector"]),
            "projector_type": "mlp2x_gelu",
            "image_aspect_ratio": "pad",
        }
        enc = dict(CLIP_ENC, path=str(llava_pieces["tower"]))
    else:
        cfg = {"checkpoint": str(llava_pieces[form]), "llm": str(llava_pieces["llm"])}
        enc = CLIP_ENC
    mllm = load_mllm(cfg, enc, cpu)
    assert mllm.parts.format == ("composed" if form == "composed" else "llava")
    assert mllm.preprocessor.image_token_id is None  # LLaVA code-base chunk tokenisation
    preps = [mllm.preprocessor(r) for r in _requests([(70, 50), (56, 56)])]
    assert preps[0].input_ids[0] == 1 and preps[0].input_ids.count(-200) == 1
    ref = _reference_logits(hf_llava_dir, mllm, preps)
    for i, logits in enumerate(mllm.prompt_logits(preps)):
        torch.testing.assert_close(logits, ref[i, -logits.shape[0] :], atol=1e-5, rtol=1e-5)


def test_vision_tower_hub_id_falls_back_to_encoder_path(llava_pieces, tmp_path, cpu, cache_dir):
    import json
    import shutil

    folder = tmp_path / "ckpt"
    shutil.copytree(llava_pieces["full"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps(dict(cfg, mm_vision_tower="openai/clip-vit-large-patch14-336"))
    )
    with pytest.raises(HarnessError, match=r"openai/clip-vit-large-patch14-336.*set encoder.path="):
        load_mllm(
            {"checkpoint": str(folder)},
            dict(CLIP_ENC, path="openai/clip-vit-large-patch14-336"),
            cpu,
        )
    mllm = load_mllm(
        {"checkpoint": str(folder)}, dict(CLIP_ENC, path=str(llava_pieces["tower"])), cpu
    )
    assert mllm.parts.paths["encoder"] == str(llava_pieces["tower"].resolve())


def test_checkpoint_placeholder_and_missing_paths(llava_pieces, tmp_path, cpu, cache_dir):
    with pytest.raises(HarnessError, match=r"MLLM checkpoint not found: .*/nope-clip_l"):
        load_mllm({"checkpoint": str(tmp_path / "nope-{encoder}")}, CLIP_ENC, cpu)
    with pytest.raises(HarnessError, match="model.checkpoint"):
        load_mllm({}, CLIP_ENC, cpu)
    with pytest.raises(HarnessError, match=r"LLM folder .*not found.*model.llm"):
        load_mllm({"checkpoint": str(llava_pieces["proj_only"])}, CLIP_ENC, cpu)
    with pytest.raises(HarnessError, match="projector file not found"):
        load_mllm(
            {"llm": str(llava_pieces["llm"]), "projector": str(tmp_path / "x.bin")},
            dict(CLIP_ENC, path=str(llava_pieces["tower"])),
            cpu,
        )


def test_projector_mismatches_are_errors(llava_pieces, cpu, cache_dir):
    enc = dict(CLIP_ENC, path=str(llava_pieces["tower"]))
    base = {"llm": str(llava_pieces["llm"]), "projector": str(llava_pieces["projector"])}
    with pytest.raises(HarnessError, match="'linear' configured, but the weights are 'mlp2x_gelu'"):
        load_mllm(dict(base, projector_type="linear"), enc, cpu)
    with pytest.raises(HarnessError, match="layernorm is true, but the projector has no LayerNorm"):
        load_mllm(base, dict(enc, layernorm=True), cpu)
    with pytest.raises(HarnessError, match="does not match the checkpoint"):
        load_mllm(base, dict(enc, arch="siglip"), cpu)


def test_tower_weights_stored_in_the_llava_checkpoint_are_used(
    llava_pieces, tmp_path, cpu, cache_dir
):
    import shutil

    from safetensors.torch import load_file, save_file
    from transformers import CLIPVisionModel

    folder = tmp_path / "with_tower"
    shutil.copytree(llava_pieces["full"], folder)
    tower = CLIPVisionModel.from_pretrained(str(llava_pieces["tower"])).eval()
    with torch.no_grad():
        tower.embeddings.patch_embedding.weight.mul_(2.0)  # an unfrozen, further-trained tower
    weights = load_file(str(folder / "model.safetensors"))
    # keys as the LLaVA code base (transformers 4) saved them: ...vision_tower.vision_model.*
    weights.update(
        {
            f"model.vision_tower.vision_tower.vision_model.{k}": v.contiguous()
            for k, v in tower.state_dict().items()
        }
    )
    save_file(weights, str(folder / "model.safetensors"))
    mllm = load_mllm({"checkpoint": str(folder)}, CLIP_ENC, cpu)
    x = torch.randn(1, 3, 56, 56)
    with torch.no_grad():
        torch.testing.assert_close(
            mllm.encoder(x),
            tower(pixel_values=x, output_hidden_states=True).hidden_states[-2][:, 1:],
        )
