"""Worker-side pieces: one shared buffer per batch, errors in place, the plain-model path."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
import torch

from harness.engine.loader import Batch, Item, batch_stream, pack
from harness.errors import SampleError
from harness.types import ImageRef

from .fakes import FakePreprocessor, ToyTask


@dataclass
class Prep:
    id: str
    pixels: list[torch.Tensor]
    ids: torch.Tensor


def test_pack_puts_every_tensor_of_a_batch_in_one_buffer_per_dtype():
    items = [
        Item(
            i,
            "p",
            Prep(str(i), [torch.rand(2, 3, 4, 4), torch.rand(1, 3, 4, 4)], torch.arange(i + 2)),
        )
        for i in range(3)
    ]
    packed = pack(items)
    for a, b in zip(items, packed):
        assert all(torch.equal(x, y) for x, y in zip(a.payload.pixels, b.payload.pixels))
        assert torch.equal(a.payload.ids, b.payload.ids) and b.payload.ids.dtype == torch.int64
    floats = {p.untyped_storage().data_ptr() for it in packed for p in it.payload.pixels}
    ints = {it.payload.ids.untyped_storage().data_ptr() for it in packed}
    assert len(floats) == 1 and len(ints) == 1
    assert packed[0].payload.pixels[0].untyped_storage().nbytes() == 3 * 3 * 48 * 4


def test_pack_leaves_failures_and_tensorless_items_alone():
    items = [Item(0, None, SampleError("bad")), Item(1, "p", "text")]
    assert pack(items) == items


def test_workers_return_prepared_items_in_batch_order_with_errors_in_place():
    task = ToyTask(n=6, bad=("q1",), corrupt=("q2",))
    batches = [[5, 1], [2, 0, 4], [3]]
    got = list(batch_stream(task, batches, FakePreprocessor(fail=("q4",)), num_workers=2))
    assert all(isinstance(b, Batch) for b in got)
    assert [[it.index for it in b] for b in got] == batches
    by = {it.index: it for b in got for it in b}
    assert by[1].failed and by[1].prompt is None and "question" in str(by[1].payload)
    assert by[2].failed and "decode" in str(by[2].payload) and by[2].prompt == "Q: xxx"
    assert by[4].failed and str(by[4].payload) == "preprocessing failed for q4"
    assert by[5].payload.sizes == [(64, 64)] and by[3].payload.sizes == [(8, 8)]


@pytest.mark.parametrize("workers", [0, 2])
def test_plain_models_get_requests_with_their_images_decoded(workers):
    """Oracle and replay take plain requests; their images are decoded all the same, so a corrupt
    image fails its sample as it does in the MLLM's preprocessing."""
    task = ToyTask(n=4, bad=("q1",), corrupt=("q3",))
    got = list(batch_stream(task, [[2, 0], [1, 3]], None, num_workers=workers))
    assert [it.payload.id for it in got[0]] == ["q2", "q0"] and got[0][0].payload.prompt == "Q: xxx"
    assert got[1][0].failed and got[1][0].prompt is None and "question" in str(got[1][0].payload)
    bad = got[1][1]
    assert bad.failed and bad.prompt == "Q: xxxx" and "image failed to decode" in str(bad.payload)


def test_plain_path_reports_the_same_reason_as_the_preprocessor():
    task = ToyTask(n=4, corrupt=("q3",))
    plain = next(iter(batch_stream(task, [[3]], None)))[0].payload
    with pytest.raises(SampleError) as real:
        task.docs()[3]["images"][0].load()
    same = re.compile(r" at 0x[0-9a-f]+")  # PIL names the buffer object by its address
    assert same.sub("", str(plain)) == same.sub("", str(real.value))


def test_an_image_that_decoded_is_not_decoded_again(monkeypatch):
    task = ToyTask(n=10, sizes=((8, 8),))  # every doc carries the same PNG bytes
    calls = []
    original = ImageRef.load
    monkeypatch.setattr(ImageRef, "load", lambda self: calls.append(1) or original(self))
    items = list(batch_stream(task, [list(range(10))], None))[0]
    assert not any(it.failed for it in items) and len(calls) == 1
