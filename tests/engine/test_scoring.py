"""Scoring in a background process gives exactly the inline records, in order; errors surface."""

from __future__ import annotations

import time

import pytest

from harness.engine.scoring import Scorer, make_records
from harness.errors import HarnessError, SampleError

from .fakes import ToyTask


def _entries(task, ids, outputs):
    return [(i, f"q{i}", f"Q{i}", out) for i, out in zip(ids, outputs)]


def test_background_and_inline_scoring_agree_batch_by_batch():
    task = ToyTask(n=8)
    batches = [
        _entries(task, [3, 1], ["a3", "nope"]),
        _entries(task, [0, 7, 2], ["a0", SampleError("broke"), "a2"]),
    ]
    inline = [r for b in batches for r in make_records(task, b)]
    got: list[dict] = []
    scorer = Scorer(task, True, got.extend)
    try:
        scorer.submit(batches[0])
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:  # delivered without the caller asking
            time.sleep(0.005)
        assert [r["id"] for r in got] == ["q3", "q1"]
        scorer.submit(batches[1])
    finally:
        scorer.close()
    assert got == inline
    assert [r["id"] for r in got] == ["q3", "q1", "q0", "q7", "q2"]
    assert got[0]["score"] == 1.0 and got[1]["score"] == 0.0
    assert len(got[3].pop("digest")) == 12 and got[0]["digest"] != got[1]["digest"]
    assert got[3] == {
        "id": "q7",
        "prompt": "Q7",
        "prediction": None,
        "failed": "broke",
        "answer": "a7",
        "score": 0.0,
    }  # scored as an empty answer: counts as wrong


def test_a_scoring_error_in_the_background_process_reaches_the_caller():
    task = ToyTask(n=2)
    got: list[dict] = []
    scorer = Scorer(task, True, got.extend)
    scorer.submit(_entries(task, [0], [None]))
    with pytest.raises(HarnessError, match="model returned NoneType for sample 'q0'"):
        scorer.close()
    assert got == []


def test_a_sample_error_while_scoring_is_a_failed_record_that_keeps_the_prediction():
    class Strict(ToyTask):
        def score(self, doc, prediction):
            raise SampleError(f"record {doc['id']}: answer field malformed")

    task = Strict(n=1)
    (rec,) = make_records(task, _entries(task, [0], ["x"]))
    assert rec.pop("digest")
    assert rec == {
        "id": "q0",
        "prompt": "Q0",
        "prediction": "x",
        "failed": "record q0: answer field malformed",
    }
