"""Fault corpus, resume: each resumed record is checked against its dataset sample, one task run
into a folder of others keeps their scores, failed samples are retried unless retry_failed=false."""

from __future__ import annotations

import json

from harness.engine import EngineSettings, run_task
from tests.engine.fakes import FakeMLLM, ToyTask

from .helpers import read_lines, run_main, scores

BASE = ("model=oracle", "data=demo", "device=cpu", "batch_size=8", "num_workers=0")


def _run(capsys, out, task, *extra):
    return run_main(capsys, f"task={task}", *BASE, f"output_dir={out}", *extra)


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def test_another_tasks_predictions_under_this_tasks_name_are_refused(capsys, tmp_path):
    out, other = tmp_path / "run", tmp_path / "other"
    assert _run(capsys, out, "docvqa").code == 0 and _run(capsys, other, "infovqa").code == 0
    journal = out / "predictions" / "docvqa.jsonl"
    ids = [r["id"] for r in read_lines(journal)]
    foreign = [
        dict(r, id=i) for r, i in zip(read_lines(other / "predictions" / "infovqa.jsonl"), ids)
    ]
    _write(journal, foreign)  # same ids, same resume key file: only the samples tell them apart
    before = journal.read_bytes()
    res = _run(capsys, out, "docvqa")
    assert res.code == 1 and res.error.startswith(
        f"error: {journal}: the record for id {ids[0]!r} does not match"
    )
    assert (
        "another task's or dataset's predictions; move it away or choose another output_dir"
        in res.error
    )
    assert journal.read_bytes() == before


def test_records_without_a_digest_are_computed_again(capsys, tmp_path):
    out = tmp_path / "run"
    assert _run(capsys, out, "docvqa").code == 0
    journal = out / "predictions" / "docvqa.jsonl"
    ref = read_lines(journal)
    _write(
        journal,
        [{k: v for k, v in r.items() if k != "digest"} | {"prediction": "stale"} for r in ref],
    )
    res = _run(capsys, out, "docvqa")
    assert res.code == 0 and read_lines(journal) == ref


def test_one_task_into_a_folder_of_others_keeps_their_scores(capsys, tmp_path):
    out = tmp_path / "run"
    assert _run(capsys, out, "gqa").code == 0 and _run(capsys, out, "pope").code == 0
    first = scores(out)
    assert _run(capsys, out, "docvqa").code == 0
    merged = scores(out)
    assert sorted(merged) == ["docvqa", "gqa", "pope"] and {k: merged[k] for k in first} == first
    meta = json.loads((out / "meta.json").read_text())
    assert sorted(meta["tasks"]) == sorted(meta["datasets"]) == ["docvqa", "gqa", "pope"]


def test_another_models_scores_are_moved_aside_not_mixed(capsys, tmp_path):
    out = tmp_path / "run"
    assert _run(capsys, out, "gqa").code == 0
    old = scores(out)
    replay = tmp_path / "p.jsonl"
    ref = tmp_path / "ref"
    assert _run(capsys, ref, "docvqa").code == 0
    _write(
        replay,
        [
            {"id": r["id"], "prediction": r["prediction"]}
            for r in read_lines(ref / "predictions" / "docvqa.jsonl")
        ],
    )
    res = run_main(
        capsys,
        "task=docvqa",
        "model=replay",
        f"model.predictions={replay}",
        "data=demo",
        "device=cpu",
        f"output_dir={out}",
    )
    assert res.code == 0, res.err[-2000:]
    assert sorted(scores(out)) == ["docvqa"]
    [kept] = (out / "old").glob("*.scores.json")
    assert json.loads(kept.read_text()) == old


def test_failed_samples_are_retried_on_resume_unless_retry_failed_is_off(tmp_path):
    first = run_task(
        ToyTask(), FakeMLLM(fail=("q7",)), tmp_path / "a", EngineSettings(progress=False)
    )
    assert first.n_failed == 1
    kept = run_task(
        ToyTask(), FakeMLLM(), tmp_path / "a", EngineSettings(progress=False, retry_failed=False)
    )
    assert (kept.n_failed, kept.n_resumed, kept.n_generated) == (1, 20, 0)
    again = run_task(ToyTask(), FakeMLLM(), tmp_path / "a", EngineSettings(progress=False))
    assert (again.n_failed, again.n_resumed, again.n_generated) == (0, 19, 1)
    assert (
        again.records
        == run_task(ToyTask(), FakeMLLM(), tmp_path / "b", EngineSettings(progress=False)).records
    )


def test_retry_failed_false_on_the_command_line(capsys, tmp_path):
    out = tmp_path / "run"
    assert _run(capsys, out, "docvqa").code == 0
    journal = out / "predictions" / "docvqa.jsonl"
    recs = read_lines(journal)
    recs[3] = {k: v for k, v in recs[3].items() if k not in ("score", "answer")} | {
        "prediction": None,
        "failed": "out of memory",
    }
    _write(journal, recs)
    assert _run(capsys, out, "docvqa", "retry_failed=false").code == 0
    assert (
        scores(out)["docvqa"]["failed"] == 1 and read_lines(journal)[3]["failed"] == "out of memory"
    )
    assert _run(capsys, out, "docvqa").code == 0  # the default retries it
    assert scores(out)["docvqa"]["failed"] == 0 and "failed" not in read_lines(journal)[3]
