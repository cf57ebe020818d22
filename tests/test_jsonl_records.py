"""harness.jsonl.Records: a task's records kept as their JSON lines between the engine and the
scores. Reading them must give exactly what plain dicts give: the scores entry, the bootstrap
interval on every replicate path (mean, features, the task's aggregate on each resample), and
what the engine writes."""

from __future__ import annotations

import json

import pytest

from harness.jsonl import Records
from harness.report.stats import Resampler, bootstrap_ci
from tests.report.runfolders import (
    FakeMME,
    FakePope,
    FakePopeFast,
    docvqa_records,
    failed_record,
    install_fakes,
    mme_records,
    pope_records,
)


def _as_lines(recs: list[dict]) -> Records:
    return Records(json.dumps(r, ensure_ascii=False) for r in recs)


def test_reads_decode_afresh_and_select_without_decoding():
    recs = [{"id": str(i), "score": i / 4, "answer": ["é"]} for i in range(5)]
    kept = Records([json.dumps(recs[0]), *recs[1:]])  # a line and dicts, as after a resume
    assert len(kept) == 5 and list(kept) == recs and kept == recs and kept[-1] == recs[4]
    first = kept[0]
    first["score"] = 99.0  # a record read out is the reader's: the kept line is unchanged
    assert kept[0]["score"] == 0.0
    assert list(kept.take([3, 0])) == [recs[3], recs[0]] and kept[1:3] == recs[1:3]
    assert kept.kept([0])[0] == json.dumps(recs[0])  # the line itself, not decoded
    assert [json.loads(x) for x in kept.lines()] == recs
    assert next(iter(kept.lines())) == json.dumps(recs[0])  # a kept line is written as is
    assert list(kept + [recs[0]]) == [*recs, recs[0]] and not Records()
    assert kept != recs[:4] and kept != "x"
    assert Records.of(kept) is kept and Records.of(recs) == recs  # a plain list is wrapped


def test_task_scores_are_the_same_from_lines_and_from_dicts():
    from harness.results import task_scores
    from harness.tasks.docvqa import DocVQA

    recs = docvqa_records([("hello world", ["hello world"]), ("helo", ["hello world"])] * 20)
    for empty in docvqa_records([("", ["hello world"])] * 2, start=100):
        recs.append(empty | {"prediction": None, "failed": "image failed to decode"})
    recs.append(failed_record(7))  # failed before it could be scored: no score fields
    task = DocVQA()
    want = task_scores(task, recs)
    assert want["failed"] == 3 and want["ci95"] is not None and "scored_only" in want
    assert task_scores(task, _as_lines(recs)) == want


@pytest.mark.parametrize("fast", [True, False])
def test_bootstrap_from_lines_equals_from_dicts_on_every_path(monkeypatch, fast):
    install_fakes(monkeypatch, pope=FakePopeFast if fast else FakePope)
    task = FakePopeFast if fast else FakePope
    rows = [(("yes", "no")[i % 2], ("yes", "no")[(i // 3) % 2], "random") for i in range(120)]
    recs = pope_records(rows)
    as_lines = _as_lines(recs)
    assert Resampler(task, as_lines).path == ("features" if fast else "aggregate")
    assert bootstrap_ci(task, as_lines, n_resamples=200, seed=3) == bootstrap_ci(
        task, recs, n_resamples=200, seed=3
    )


def test_mme_pairs_resampled_from_lines_count_a_pair_drawn_twice_twice(monkeypatch):
    install_fakes(monkeypatch)
    recs = mme_records(
        [
            (c, f"{c}{p}", (p + k) % 3 > 0)
            for c in ("existence", "count")
            for p in range(10)
            for k in range(2)
        ]
    )
    a, b = Resampler(FakeMME, recs), Resampler(FakeMME, _as_lines(recs))
    assert (a.n_units, a.path) == (b.n_units, b.path)
    assert bootstrap_ci(FakeMME, _as_lines(recs), n_resamples=100) == bootstrap_ci(
        FakeMME, recs, n_resamples=100
    )
