"""The tiny random LLaVA-HF checkpoint (harness.demo.tiny_llava) and ``harness.bench --tiny-llava``:
written in transformers' own format, from a fixed seed (same bytes every build), loaded through
the path a user's LLaVA-HF folder takes, deterministic, and the bench option is nothing but the
user's ``encoder=clip_l model.checkpoint=DIR``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.demo import tiny_llava
from harness.errors import ConfigError, HarnessError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, dict]:
    folder, manifest, built = tiny_llava.ensure(tmp_path_factory.mktemp("tiny") / "ck")
    assert built
    return folder, manifest


def test_real_format_and_shapes(tiny):
    from transformers import AutoConfig, LlavaForConditionalGeneration

    folder, manifest = tiny
    cfg = AutoConfig.from_pretrained(str(folder))
    assert cfg.model_type == "llava" and cfg.architectures == ["LlavaForConditionalGeneration"]
    v = cfg.vision_config
    assert (v.model_type, v.image_size, v.patch_size) == ("clip_vision_model", 336, 14)
    assert (v.image_size // v.patch_size) ** 2 == manifest["image_tokens"] == 576
    assert cfg.vision_feature_select_strategy == "default"  # CLS dropped: 576 tokens, not 577
    assert cfg.text_config.model_type == "llama"
    assert 256 <= cfg.text_config.hidden_size <= 512
    model = LlavaForConditionalGeneration.from_pretrained(str(folder))
    assert sum(p.numel() for p in model.parameters()) == manifest["parameters"]["total"]
    proc = json.loads((folder / "preprocessor_config.json").read_text())
    assert proc["image_processor_type"] == "CLIPImageProcessor"
    assert proc["size"] == {"shortest_edge": 336}
    assert proc["crop_size"] == {"height": 336, "width": 336}
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(folder))
    assert tok.convert_tokens_to_ids("<image>") == cfg.image_token_index


def _answers(cli, folder: Path, out: Path) -> tuple[list[dict], dict]:
    code, _, err = cli(
        "task=docvqa",
        "encoder=clip_l",
        f"model.checkpoint={folder}",
        "data=demo",
        "device=cpu",
        "limit=2",
        "share_images=false",
        "num_workers=0",
        f"output_dir={out}",
    )
    assert code == 0, err
    rows = [json.loads(line) for line in (out / "predictions" / "docvqa.jsonl").open()]
    return rows, json.loads((out / "meta.json").read_text())


def test_loads_as_a_users_folder_and_answers_deterministically(tiny, cli, tmp_path):
    folder, manifest = tiny
    first, meta = _answers(cli, folder, tmp_path / "a")
    second, _ = _answers(cli, folder, tmp_path / "b")  # a second load from disk
    assert len(first) == 2 and all(isinstance(r["prediction"], str) for r in first)
    assert all(r["prediction"] for r in first)  # random weights still generate tokens
    assert [(r["id"], r["prediction"]) for r in first] == [
        (r["id"], r["prediction"]) for r in second
    ]
    m = meta["model"]
    assert m["format"] == "hf_llava" and m["paths"]["checkpoint"] == str(folder)
    assert m["preprocessing"]["processing"]["backend"] == "transformers"
    assert m["llm_parameters"] == manifest["parameters"]["total"]
    c = meta["counters"]
    assert c["images_encoded"] == 2
    # each prompt holds 576 image tokens and a question of under 200 text tokens
    assert 2 * 576 < c["prefill_tokens"] < 2 * (576 + 200)
    assert 0 < c["generated_tokens"] <= 2 * 32


def test_reused_and_refused(tiny, tmp_path):
    folder, manifest = tiny
    again, found, built = tiny_llava.ensure(folder)
    assert (again, found, built) == (folder, manifest, False)
    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(HarnessError, match="not empty and not a complete tiny LLaVA"):
        tiny_llava.ensure(stranger)
    assert (stranger / "notes.txt").read_text() == "keep me"
    with pytest.raises(HarnessError, match="seed 0.*seed 1"):  # another seed's folder
        tiny_llava.ensure(folder, seed=1)
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / tiny_llava.MANIFEST).write_text("{not json")
    (damaged / ".complete").write_text("ok\n")
    with pytest.raises(HarnessError, match="not empty and not a complete tiny LLaVA"):
        tiny_llava.ensure(damaged)


def test_bench_option_is_the_checkpoint_override(tiny, tmp_path):
    """--tiny-llava builds into the bench's work dir by default (same bytes as any other build)
    and composes the very config the user's own overrides compose; a model or encoder override
    beside it is refused, naming the key."""
    from harness.bench import tiny_llava_overrides
    from harness.bench_tools import compose

    folder, _ = tiny
    overrides, recorded = tiny_llava_overrides(["task=docvqa"], None, tmp_path / "bench")
    built = tmp_path / "bench" / "tiny-llava" / f"v{tiny_llava.VERSION}-seed{tiny_llava.SEED}"
    assert recorded["folder"] == str(built) and recorded["built_now"]
    for name in ("model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json"):
        assert (built / name).read_bytes() == (folder / name).read_bytes(), name
    by_hand = ["encoder=clip_l", f"model.checkpoint={built}", "task=docvqa"]
    assert overrides == by_hand
    ours, hand = compose(overrides), compose(by_hand)
    assert ours[0] == hand[0] and ours[0].model.checkpoint == str(built)
    assert [str(e.name) for e in ours[1].encoders] == ["clip_l"]
    for bad in ("model.checkpoint=/x", "encoder=siglip", "model=oracle"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            tiny_llava_overrides([bad], str(folder), tmp_path)
