"""MLLM generation: batch-size invariance, stop strings, per-row limits, sample errors, timings,
identity."""

from __future__ import annotations

import pickle

import pytest
import torch

from harness.errors import SampleError
from harness.models.generation import RowSpec, greedy
from harness.models.mllm import MLLM, load_mllm
from harness.types import GenerationSettings, ImageRef, Request
from tests.models.conftest import random_image

UNIT_DEMO = {
    "name": "demo_unit_600m",
    "family": "unit_600m",
    "arch": "unit",
    "select_layer": -1,
    "select_feature": "patch",
    "layernorm": True,
    "demo": True,
}
WORDS = [
    "What colour is the circle?",
    "Is there a red square? Please answer yes or no.",
    "How many stars are in the picture?",
    "Answer with the option's letter from the given choices directly.",
    "What is the title of the chart?",
]


@pytest.fixture(scope="module")
def demo(cpu, cache_dir) -> MLLM:
    """The demo UNIT-600M MLLM before it is fit to the demo sets: a free-running random LM,
    which the generation-mechanics tests below need (long answers, no early EOS)."""
    from harness.demo.models import ensure_demo_checkpoint

    ckpt = ensure_demo_checkpoint(UNIT_DEMO, cache_dir, fit_steps=0)
    return load_mllm({"checkpoint": str(ckpt)}, UNIT_DEMO, cpu)


def _requests(n: int, max_new=(24,), stop=()) -> list[Request]:
    return [
        Request(
            id=f"q{i}",
            prompt=WORDS[i % len(WORDS)] + " " * (i % 3),
            images=[ImageRef(image=random_image(100 + i, 30 + 7 * i, 90 - 3 * i), key=f"img{i}")],
            gen=GenerationSettings(max_new_tokens=max_new[i % len(max_new)], stop=stop),
        )
        for i in range(n)
    ]


def test_same_predictions_at_batch_1_and_16(demo):
    reqs = _requests(16, max_new=(24, 7, 40))
    demo.batch_size = 16
    batched = demo.generate(reqs)
    demo.batch_size = 1
    single = demo.generate(reqs)
    demo.batch_size = 16
    assert batched == single
    assert all(isinstance(t, str) for t in batched) and sum(bool(t) for t in batched) >= 12
    lengths = [len(p.input_ids) for p in map(demo.preprocessor, reqs)]
    assert len(set(lengths)) > 3  # really left-padded: prompts of different lengths


def test_rows_stop_at_their_own_limit_and_finished_rows_leave_the_batch(demo):
    preps = [demo.preprocessor(r) for r in _requests(6, max_new=(3, 30))]
    ids = demo.generate_ids(preps)
    assert [len(t) <= p.gen.max_new_tokens for t, p in zip(ids, preps)] == [True] * 6
    assert [len(t) for t in ids[0::2]] == [3, 3, 3]  # random tiny LM: no early EOS in 3 tokens
    assert ids == [demo.generate_ids([p])[0] for p in preps]


def test_stop_string_cuts_the_text(demo):
    req = _requests(1, max_new=(40,))[0]
    full = demo.generate([req])[0]
    assert len(full) > 12
    stop = full[8:11]  # a piece from the middle of the free-running answer
    req.gen = GenerationSettings(max_new_tokens=40, stop=(stop,))
    ids_stopped = demo.generate_ids([demo.preprocessor(req)])[0]
    text = demo.generate([req])[0]
    assert text == full[: full.index(stop)].strip()
    assert stop in demo.tokenizer.decode(ids_stopped) and len(ids_stopped) < len(
        demo.generate_ids(
            [demo.preprocessor(Request(req.id, req.prompt, req.images, GenerationSettings(40)))]
        )[0]
    )


def test_eos_stops_a_row():
    class FakeLM:  # row 0 says EOS (id 2) at once; row 1 counts up
        def __call__(self, *, cache=None, **inputs):
            b = (
                inputs.get("inputs_embeds") if "inputs_embeds" in inputs else inputs["input_ids"]
            ).shape[0]
            logits = torch.zeros(b, 10)
            if b == 2:
                logits[0, 2] = 1
                logits[1, 5] = 1
            else:
                logits[0, 6] = 1
            return logits, ()

    rows = [torch.zeros(3, 4), torch.zeros(5, 4)]
    out = greedy(FakeLM(), rows, [RowSpec(4), RowSpec(4)], {2}, lambda ids: "")
    assert out == [[], [5, 6, 6, 6]]


def test_image_decode_failure_is_a_sample_error_in_its_slot(demo):
    reqs = _requests(3)
    reqs[1].images = [ImageRef(data=b"not an image", key="broken")]
    out = demo.generate(reqs)
    assert isinstance(out[1], SampleError) and "image failed to decode" in str(out[1])
    assert isinstance(out[0], str) and isinstance(out[2], str)
    assert out[0] == demo.generate([reqs[0]])[0]


def test_preprocessor_pickles_and_timings_accumulate(demo):
    prep = pickle.loads(pickle.dumps(demo.preprocessor))(_requests(1)[0])
    assert prep.error is None and prep.input_ids.count(-200) == 1 and prep.image_keys == ["img0"]
    assert prep.pixel_values[0].dtype == torch.float32 and prep.pixel_values[0].shape[1:] == (
        3,
        56,
        56,
    )
    assert (
        len(prep.image_hashes) == 1 and len(prep.image_hashes[0]) == 40
    )  # sha1 of the image's content
    # unshared: the whole prompt is prefilled (shared counts: tests/models/test_sharing.py)
    demo.share_images = False
    demo.timings.update(dict.fromkeys(demo.timings, 0.0))
    demo.profile = True
    demo.generate_prepared([prep])
    demo.profile = False
    demo.share_images = True
    t = demo.timings
    assert (
        t["prefill_tokens"]
        == len(prep.input_ids)
        - 1
        + demo.encode_images(prep.pixel_values, prep.image_sizes)[0].shape[0]
    )
    assert (
        t["generated_tokens"] > 0
        and t["encode"] > 0
        and t["prefill"] > 0
        and t["decode"] > 0
        and t["preprocess"] > 0
    )
    assert (
        t["images"] == 1 and t["images_encoded"] == 2
    )  # generate + the check's own encode_images call


def test_fingerprint_and_describe(demo):
    fp = demo.fingerprint()
    assert (
        set(fp["checkpoints"]) == {"checkpoint", "encoder", "llm"}
        and fp["image_aspect_ratio"] == "anyres"
    )
    assert fp["template"] == "vicuna_v1" and fp["dtype"] == "fp32"
    d = demo.describe()
    assert (
        d["encoder"]["arch"] == "unit"
        and d["llm"] == "LlamaForCausalLM"
        and d["merge"] == "spatial_unpad"
    )
    assert d["preprocessing"]["processing"]["do_normalize"] is False
    assert d["projector_parameters"] == 2 * 32 + (32 * 64 + 64) + (
        64 * 64 + 64
    )  # LayerNorm + 2 Linear
