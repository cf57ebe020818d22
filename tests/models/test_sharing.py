"""Image sharing: identical predictions with and without it (fp32), each image's work done once,
fallbacks."""

from __future__ import annotations

import logging
import random

import pytest

from harness.demo.models import demo_cfg
from harness.models import kvcache
from harness.models.mllm import MLLM, load_mllm
from harness.types import GenerationSettings, ImageRef, Request
from tests.models.conftest import random_image
from tests.models.test_llm_families import ENC, _llava_folder

UNIT_DEMO = {
    "name": "demo_unit_600m",
    "family": "unit_600m",
    "arch": "unit",
    "select_layer": -1,
    "select_feature": "patch",
    "layernorm": True,
    "demo": True,
}
QUESTIONS = [
    "Is there a red circle in the image? Please answer yes or no.",
    "What colour is the square?",
    "How many stars are there?",
    "What is the title of the chart?",
    "Which shape is on the left?",
    "Answer the question using a single word or phrase. What is the number?",
]
SIZES = [
    (60, 40),
    (40, 90),
    (100, 100),
    (56, 56),
    (130, 50),
]  # different anyres grids: different prefix lengths


@pytest.fixture(scope="module")
def demo(cpu, cache_dir) -> MLLM:
    return load_mllm(demo_cfg(UNIT_DEMO, cache_dir), UNIT_DEMO, cpu)


def grouped(n_images: int, per_image: int, max_new=(12, 5, 20)) -> list[Request]:
    """``per_image`` questions on each of ``n_images`` images, rows of one image together."""
    out = []
    for i in range(n_images):
        img = random_image(500 + i, *SIZES[i % len(SIZES)])
        for j in range(per_image):
            out.append(
                Request(
                    f"i{i}q{j}",
                    QUESTIONS[(i + j) % len(QUESTIONS)],
                    [ImageRef(image=img, key=f"img{i}")],
                    GenerationSettings(max_new_tokens=max_new[(i + j) % len(max_new)]),
                )
            )
    return out


def run(m: MLLM, reqs: list[Request], share: bool, batch_size: int) -> tuple[dict[str, str], dict]:
    m.share_images, m.batch_size = share, batch_size
    m.features.clear()
    m.timings = dict.fromkeys(m.timings, 0)
    out = m.generate(reqs)
    return {r.id: o for r, o in zip(reqs, out)}, dict(m.timings)


def test_predictions_identical_with_and_without_sharing(demo):
    reqs = grouped(5, 4)
    shuffled = random.Random(0).sample(reqs, len(reqs))
    base, _ = run(demo, reqs, False, 16)
    assert sum(bool(t) for t in base.values()) >= 15 and len(set(base.values())) > 5
    for order in (reqs, shuffled):
        for bs in (16, 3, 1):
            assert run(demo, order, True, bs)[0] == base, (bs, order is reqs)


def test_each_image_encoded_once_and_each_prefix_prefilled_once(demo):
    reqs = grouped(5, 6)  # batches of 16: image 2's six rows straddle the two batches
    preps = [demo.preprocessor(r) for r in reqs]
    tokens = [demo.encode_images(p.pixel_values, p.image_sizes)[0].shape[0] for p in preps]
    prefix = [
        p.prefix_length() - 1 + n for p, n in zip(preps, tokens)
    ]  # the slot becomes the image's tokens
    suffix = [len(p.input_ids) - p.prefix_length() for p in preps]
    full = sum(len(p.input_ids) - 1 + n for p, n in zip(preps, tokens))
    base, t_off = run(demo, reqs, False, 16)
    assert (
        t_off["images_encoded"] == 30
        and t_off["prefill_tokens"] == full
        and t_off["prefixes_computed"] == 0
    )
    once = sum(prefix[::6]) + sum(suffix)
    for bs in (16, 1):
        out, t_on = run(demo, reqs, True, bs)
        assert out == base
        assert t_on["images"] == 30 and t_on["images_encoded"] == 5
        assert t_on["prefill_tokens"] == once, (
            bs
        )  # each image prefix once, even across batch boundaries
    assert (
        t_on["shared_prefix_rows"] == 25
    )  # batch 1: the first row of each image runs unshared, keeps its prefix


def test_one_question_per_image_runs_the_unshared_path(demo):
    reqs = grouped(6, 1)
    base, t_off = run(demo, reqs, False, 16)
    out, t_on = run(demo, reqs, True, 16)
    assert out == base and t_on["prefill_tokens"] == t_off["prefill_tokens"]
    assert (
        t_on["prefixes_computed"] == 0
        and t_on["shared_prefix_rows"] == 0
        and t_on["images_encoded"] == 6
    )


def test_question_before_the_image_falls_back_with_a_log_line(demo, caplog):
    img = random_image(7, 70, 50)
    reqs = [
        Request(
            f"q{j}", f"{QUESTIONS[j]} Look: <image>", [ImageRef(image=img)], GenerationSettings(8)
        )
        for j in range(4)
    ]
    base, _ = run(demo, reqs, False, 16)
    with caplog.at_level(logging.INFO, logger="harness.models.sharing"):
        out, t = run(demo, reqs, True, 16)
    assert out == base and t["prefixes_computed"] == 0 and t["shared_prefix_rows"] == 0
    assert t["images_encoded"] == 1  # the encoder output is still shared
    assert "questions about one image have different prefixes" in caplog.text


def test_unsupported_cache_turns_prefix_sharing_off(cpu, cache_dir, monkeypatch, caplog):
    m = load_mllm(demo_cfg(UNIT_DEMO, cache_dir), UNIT_DEMO, cpu)
    reqs = grouped(2, 3)
    base, _ = run(m, reqs, False, 16)

    def refuse(cache):
        raise kvcache.Unsupported("its cache has StaticLayer layers")

    monkeypatch.setattr(kvcache, "to_layers", refuse)
    with caplog.at_level(logging.WARNING, logger="harness.models.sharing"):
        out, t = run(m, reqs, True, 16)
    assert (
        out == base
        and m.sharer.off == "the model is not supported: its cache has StaticLayer layers"
    )
    assert "prefix sharing is off for this model" in caplog.text and t["images_encoded"] == 2
    out, t = run(m, reqs, True, 16)  # stays off, quietly
    assert out == base and t["shared_prefix_rows"] == 0


@pytest.mark.parametrize("family", ["llama", "qwen2", "mistral"])
def test_llm_families_share_identically(family, tmp_path, clip_dir, tok_dir, cpu, cache_dir):
    folder, _ = _llava_folder(tmp_path, family, clip_dir, tok_dir)
    m = load_mllm({"checkpoint": str(folder)}, ENC, cpu)
    reqs = grouped(3, 3, max_new=(10,))
    base, _ = run(m, reqs, False, 16)
    for bs in (16, 2):
        out, t = run(m, reqs, True, bs)
        assert out == base and t["shared_prefix_rows"] > 0 and m.sharer.off is None, bs
    if (
        family == "mistral"
    ):  # sliding-window cache layers (window 4096 by default), shorter prompts: shared
        assert m.sharer.window == 4096


def test_batches_reaching_a_sliding_window_run_unshared(
    tmp_path, clip_dir, tok_dir, cpu, cache_dir, caplog
):
    import json

    folder, _ = _llava_folder(tmp_path, "mistral", clip_dir, tok_dir)
    reqs = grouped(2, 3, max_new=(6,))
    probe = load_mllm({"checkpoint": str(folder)}, ENC, cpu)
    preps = [probe.preprocessor(r) for r in reqs]
    prefix = max(p.prefix_length() - 1 + probe.image_features([p])[0][0].shape[0] for p in preps)
    cfg = json.loads((folder / "config.json").read_text())
    for window, why in (
        (
            prefix + 2,
            f"reaches the model's {prefix + 2}-token sliding window",
        ),  # prefix fits, row not
        (prefix - 4, "sliding-window cache has already dropped tokens"),
    ):  # not even the prefix fits
        (folder / "config.json").write_text(json.dumps(dict(cfg, sliding_window=window)))
        m = load_mllm({"checkpoint": str(folder)}, ENC, cpu)
        base, _ = run(m, reqs, False, 16)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="harness.models.sharing"):
            out, t = run(m, reqs, True, 16)
        assert out == base and t["shared_prefix_rows"] == 0 and m.sharer.window == window
        assert f"{why}; that batch runs unshared" in caplog.text
        assert (
            m.sharer.off is None and m.sharer.carry is None
        )  # only those batches: sharing stays on


@pytest.mark.parametrize("fixture", ["hf_llava_dir", "hf_next_dir"])
def test_transformers_llava_formats_share_identically(fixture, request, cpu, cache_dir):
    m = load_mllm({"checkpoint": str(request.getfixturevalue(fixture))}, ENC, cpu)
    reqs = grouped(3, 3, max_new=(8,))
    base, _ = run(m, reqs, False, 16)
    out, t = run(m, reqs, True, 16)
    assert out == base and t["prefixes_computed"] == 3 and t["images_encoded"] == 3


def test_memo_decodes_an_image_once_per_worker(demo, monkeypatch):
    import pickle

    loads = []
    real = ImageRef.load
    monkeypatch.setattr(ImageRef, "load", lambda self: loads.append(1) or real(self))
    img = random_image(3, 50, 70)
    reqs = [Request(f"q{j}", QUESTIONS[j], [ImageRef(image=img)]) for j in range(3)]
    demo.share_images = True
    pre = pickle.loads(pickle.dumps(demo.preprocessor))
    assert pre.memo == 8 and len(pre._recent) == 0
    preps = [pre(r) for r in reqs]
    assert len(loads) == 1 and preps[0].pixel_values[0] is preps[2].pixel_values[0]
    assert len({p.image_hashes[0] for p in preps}) == 1
    assert len(pickle.loads(pickle.dumps(pre))._recent) == 0  # the memo never travels
    demo.share_images = False
    [demo.preprocessor(r) for r in reqs]
    assert len(loads) == 4
    demo.share_images = True
