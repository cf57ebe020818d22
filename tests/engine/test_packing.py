"""The plan keeps its rows packed (harness.engine.packing): same values back, shared objects
kept by reference, per-row handles by value, unpicklable rows kept as they are, a fraction of
the memory."""

from __future__ import annotations

import pickle
import tracemalloc

from harness.engine.packing import Packer
from harness.engine.plan import Sample
from harness.types import GenerationSettings, ImageRef, Request


class Table:
    """Stands for a dataset a cell points into: big, shared, never to be copied per row."""

    def __init__(self) -> None:
        self.rows = list(range(1000))


class Cell:
    """A per-row image handle (an ImageSource: it has ``read``)."""

    def __init__(self, table: Table, row: int) -> None:
        self.table, self.row = table, row

    def read(self) -> bytes:
        return b"img%d" % self.row


def _row(i: int, table: Table, gen: GenerationSettings) -> tuple[dict, Request]:
    cell = Cell(table, i)
    doc = {
        "id": f"q{i}",
        "question": f"What is written in box {i}?",
        "answers": [f"A{i}", f"a{i}"],
        "image": cell,
        "meta": {"page": i % 7, "split": "val", "score": 0.5},
        "_index": i,
    }
    req = Request(
        id=f"q{i}",
        prompt=f"What is written in box {i}?\nAnswer briefly.",
        images=[ImageRef(source=cell, key=f"doc{i}")],
        gen=gen,
        aliases=(str(i),),
    )
    return doc, req


def test_round_trip_values_handles_by_value_shared_by_reference():
    table, gen, packer = Table(), GenerationSettings(max_new_tokens=7, stop=("\n",)), Packer()
    doc, req = _row(3, table, gen)
    s = Sample(doc, req, "abc", packer)
    assert isinstance(s._packed, bytes)
    back, rback = s.doc, s.request
    assert back is not doc
    assert {k: v for k, v in back.items() if k != "image"} == {
        k: v for k, v in doc.items() if k != "image"
    }
    assert isinstance(back["image"], Cell) and back["image"] is not doc["image"]
    assert back["image"].row == 3 and back["image"].table is table  # the dataset: shared
    assert rback.gen is gen and rback.prompt == req.prompt and rback.aliases == ("3",)
    assert rback.images[0].key == "doc3" and rback.images[0].data == b"img3"
    assert s.digest == "abc"
    # one table entry per shared object, however many rows refer to it
    for i in range(50):
        Sample(*_row(i, table, gen), None, packer)
    assert sorted(type(o).__name__ for o in packer.table) == ["GenerationSettings", "Table"]


def test_request_dropped_after_use_keeps_document():
    s = Sample({"id": "a"}, Request(id="a", prompt="p"), None, Packer())
    assert s.request is not None
    s.request = None
    assert s.request is None and s.doc == {"id": "a"}
    s.request = Request(id="a", prompt="again")
    assert s.request.prompt == "again" and s.doc == {"id": "a"}


class Unpicklable(Cell):
    def __reduce__(self):
        raise TypeError("cannot pickle this handle")


def test_unpicklable_row_is_kept_as_it_is():
    packer, table = Packer(), Table()
    weird = {"id": "w", "image": Unpicklable(table, 1)}  # a handle travels by value: fails
    s = Sample(weird, None, None, packer)
    assert not isinstance(s._packed, bytes) and s.doc is weird
    # anything else that is not plain data is kept by reference, so it packs: a generator, a
    # function, a lock-holding object
    gen = (i for i in range(3))
    ok = Sample({"id": "ok", "g": gen, "f": len}, None, None, packer)
    assert isinstance(ok._packed, bytes) and ok.doc["g"] is gen and ok.doc["f"] is len


def test_samples_survive_pickling_to_a_worker():
    table, gen, packer = Table(), GenerationSettings(), Packer()
    samples = {i: Sample(*_row(i, table, gen), f"d{i}", packer) for i in range(5)}
    copied = pickle.loads(pickle.dumps(samples))
    assert [copied[i].doc["question"] for i in range(5)] == [
        samples[i].doc["question"] for i in range(5)
    ]
    assert copied[2].request.images[0].data == b"img2"
    assert copied[0].request.gen is copied[4].request.gen  # still one shared object


def _traced(build):
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        return tracemalloc.get_traced_memory()[0] - before, kept
    finally:
        tracemalloc.stop()


def test_packed_rows_take_a_fraction_of_the_memory():
    table, gen = Table(), GenerationSettings()
    rows = 2000
    plain, _ = _traced(lambda: [Sample(*_row(i, table, gen), f"d{i}") for i in range(rows)])
    packer = Packer()
    packed, kept = _traced(
        lambda: [Sample(*_row(i, table, gen), f"d{i}", packer) for i in range(rows)]
    )
    assert all(isinstance(s._packed, bytes) for s in kept)
    assert packed < plain / 3, (plain / rows, packed / rows)
    assert kept[1234].doc["answers"] == ["A1234", "a1234"]
