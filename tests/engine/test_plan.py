"""Ordering, batching and sharding: every sample exactly once, heaviest first, balanced ranks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.engine.plan import image_pixels, make_batches, plan_task, shard, size_key
from harness.errors import HarnessError
from harness.types import ImageRef, Request

from .fakes import ToyTask, png

keys_st = st.dictionaries(
    st.integers(0, 500), st.tuples(st.integers(0, 3), st.integers(0, 20)), max_size=60
)


@given(keys_st, st.integers(1, 9))
def test_shards_cover_every_sample_once_and_balance(keys, world):
    shards = [shard(list(keys), keys, r, world) for r in range(world)]
    flat = [i for s in shards for i in s]
    assert sorted(flat) == sorted(keys)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


@given(keys_st, st.integers(1, 20))
def test_batches_hold_each_sample_once_heaviest_first(keys, size):
    batches = make_batches(list(keys), keys, size)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(keys) and all(1 <= len(b) <= size for b in batches)
    assert [keys[i] for i in flat] == sorted((keys[i] for i in flat), reverse=True)


def test_bad_batch_size_and_rank_are_errors():
    with pytest.raises(HarnessError, match="batch_size must be at least 1"):
        make_batches([0], {0: (1,)}, 0)
    with pytest.raises(HarnessError, match="rank 2 is outside a world of 2"):
        shard([0], {0: (1,)}, 2, 2)


def test_size_key_reads_image_headers_without_decoding(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png(100, 50))
    assert (
        image_pixels(ImageRef(data=png(100, 50))) == 5000 == image_pixels(ImageRef(path=str(path)))
    )
    assert image_pixels(ImageRef(data=b"not an image")) == 0
    req = Request(
        id="a", prompt="abc", images=[ImageRef(data=png(100, 50)), ImageRef(data=png(10, 10))]
    )
    assert size_key(req) == (2, 12, 3)  # 5100 pixels: 2**12 <= 5100 < 2**13


def test_plan_skips_finished_ids_and_records_build_failures():
    task = ToyTask(n=6, bad=("q2",))
    plan = plan_task(task.docs(), 5, {"q0", "q4"}, task.build_request)
    assert plan.ids == ["q0", "q1", "q2", "q3", "q4"]
    assert plan.pending == [1, 3] and set(plan.keys) == {1, 3}
    assert plan.failures == {2: (None, "record q2 is missing field 'question'")}


def test_duplicate_ids_are_a_clear_error():
    docs = [
        {"id": "a", "question": "q", "answer": "x"},
        {"id": "a", "question": "q", "answer": "y"},
    ]
    with pytest.raises(HarnessError, match=r"sample id 'a' occurs twice \(rows 0 and 1\)"):
        plan_task(docs, 2, set(), ToyTask().build_request)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF"])
def test_header_size_agrees_with_pil(fmt):
    import io

    from PIL import Image

    from harness.engine.plan import header_size

    buf = io.BytesIO()
    Image.new("RGB", (123, 45), "red").save(
        buf, fmt, **({"exif": b"Exif\x00\x00" + b"\x00" * 300} if fmt == "JPEG" else {})
    )
    data = buf.getvalue()
    assert header_size(data) == ((123, 45) if fmt != "GIF" else None)
    assert image_pixels(ImageRef(data=data)) == 123 * 45  # GIF through PIL
    assert header_size(data[:5]) is None
