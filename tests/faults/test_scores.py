"""Fault corpus, scores: a failed or missing sample counts as wrong in the headline (as a peer's
empty answer would), every failure is counted and shown, no-success is an error (issue 13)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from .helpers import read_lines, run_main, scores, variant

BASE = ("model=oracle", "device=cpu", "batch_size=8", "num_workers=0")


def _oracle(capsys, out, task="docvqa", *extra):
    return run_main(capsys, f"task={task}", *BASE, "data=demo", f"output_dir={out}", *extra)


def _replay_file(path, records, keep=None, empty=()):
    with path.open("w") as f:
        for r in records:
            if keep is not None and r["id"] not in keep and r["id"] not in empty:
                continue
            f.write(
                json.dumps(
                    {"id": r["id"], "prediction": "" if r["id"] in empty else r["prediction"]}
                )
                + "\n"
            )
    return path


def _replay(capsys, out, task, path, *extra):
    return run_main(
        capsys,
        f"task={task}",
        "model=replay",
        f"model.predictions={path}",
        "device=cpu",
        "data=demo",
        "num_workers=0",
        f"output_dir={out}",
        *extra,
    )


@pytest.fixture(scope="module")
def oracle_runs(tmp_path_factory):
    """Oracle predictions of four tasks whose aggregates are not plain means (docvqa: mean)."""
    import sys

    out = tmp_path_factory.mktemp("oracle")
    from harness.__main__ import main

    runs = {}
    for task in ("docvqa", "pope", "mme", "ocrbench"):
        sys.argv = ["harness", f"task={task}", *BASE, "data=demo", f"output_dir={out / task}"]
        main()
        runs[task] = read_lines(out / task / "predictions" / f"{task}.jsonl")
    return runs


def test_missing_replay_ids_count_as_wrong_and_show_their_count(capsys, tmp_path, oracle_runs):
    recs = oracle_runs["docvqa"]
    path = _replay_file(tmp_path / "p.jsonl", recs, keep={r["id"] for r in recs[:5]})
    res = _replay(capsys, tmp_path / "run", "docvqa", path)
    assert res.code == 0, res.err[-2000:]
    entry = scores(tmp_path / "run")["docvqa"]
    assert (entry["n"], entry["failed"], entry["total"]) == (5, 27, 32)
    assert entry["value"] == pytest.approx(
        100.0 * 5 / 32
    )  # not 100.0: the 27 missing count as wrong
    assert (
        entry["scored_only"]["value"] == 100.0
        and "successful samples only" in entry["scored_only"]["note"]
    )
    assert "15.62 (27 failed)" in (tmp_path / "run" / "table.md").read_text()
    assert (
        res.warnings == [w for w in res.warnings if "docvqa 27 of 32" in w]
        and len(res.warnings) == 1
    )


@pytest.mark.parametrize("task", ["docvqa", "pope", "mme", "ocrbench"])
def test_a_failed_sample_scores_as_an_empty_answer_would(capsys, tmp_path, oracle_runs, task):
    """MME's pair scores, POPE's F1 and OCRBench's points with failures equal the same runs
    where those samples were answered with an empty string."""
    recs = oracle_runs[task]
    gone = {r["id"] for r in recs[1::3]}
    missing = _replay_file(tmp_path / "missing.jsonl", recs, keep={r["id"] for r in recs} - gone)
    empty = _replay_file(tmp_path / "empty.jsonl", recs, empty=gone)
    a = _replay(capsys, tmp_path / "a", task, missing)
    b = _replay(capsys, tmp_path / "b", task, empty)
    assert (a.code, b.code) == (0, 0), a.err[-2000:] + b.err[-2000:]
    sa, sb = scores(tmp_path / "a")[task], scores(tmp_path / "b")[task]
    assert sa["failed"] == len(gone) and sb["failed"] == 0
    assert sa["value"] == pytest.approx(sb["value"])
    # POPE's F1 leaves unparsed answers out of precision and recall (as lmms-eval);
    # its accuracy drops
    key = "accuracy" if task == "pope" else sa["metric"]
    assert sa["metrics"][key] == pytest.approx(sb["metrics"][key])
    assert sa["metrics"][key] < sa["scored_only"]["metrics"][key]


def test_strict_makes_failed_samples_an_error_and_keeps_the_results(capsys, tmp_path, oracle_runs):
    recs = oracle_runs["docvqa"]
    path = _replay_file(tmp_path / "p.jsonl", recs, keep={r["id"] for r in recs[:30]})
    res = _replay(capsys, tmp_path / "run", "docvqa", path, "+strict=true")
    assert res.code == 1 and res.error == "error: strict=true: 2 failed sample(s): docvqa 2 of 32"
    assert scores(tmp_path / "run")["docvqa"]["failed"] == 2
    assert len(read_lines(tmp_path / "run" / "predictions" / "docvqa.jsonl")) == 32


def _ints(table):
    i = table.schema.get_field_index("question")
    return table.set_column(i, "question", pa.array(range(table.num_rows), pa.int64()))


def _answer_string(table):
    i = table.schema.get_field_index("answers")
    return table.set_column(
        i, "answers", pa.array([str(x) for x in table.column("answers").to_pylist()])
    )


@pytest.mark.parametrize("change, why", [(_ints, "question"), (_answer_string, "answers")])
def test_a_task_where_no_sample_succeeded_is_an_error_without_traceback(
    capsys, tmp_path, cache_dir, change, why
):
    variant(cache_dir, tmp_path / "data", "docvqa", change)
    res = run_main(
        capsys,
        "task=docvqa",
        *BASE,
        "data=local",
        f"data.root={tmp_path / 'data'}",
        f"output_dir={tmp_path / 'run'}",
    )
    assert res.code == 1
    assert (
        res.error.startswith("error: docvqa (")
        and "no sample succeeded (32 of 32 failed; e.g." in res.error
    )
    assert why in res.error and "predictions/docvqa.jsonl" in res.error
    entry = scores(tmp_path / "run")["docvqa"]
    assert (
        entry["value"] is None and entry["failed"] == 32 and "no sample succeeded" in entry["error"]
    )
    assert "— (32 failed)" in (tmp_path / "run" / "table.md").read_text()


def test_one_task_without_success_does_not_lose_the_other_tasks(capsys, tmp_path, cache_dir):
    data = tmp_path / "data"
    variant(cache_dir, data, "docvqa", _ints)
    variant(cache_dir, data, "pope", lambda t: t)
    out = tmp_path / "run"
    good = run_main(
        capsys, "task=pope", *BASE, "data=local", f"data.root={data}", f"output_dir={out}"
    )
    bad = run_main(
        capsys, "task=docvqa", *BASE, "data=local", f"data.root={data}", f"output_dir={out}"
    )
    assert (good.code, bad.code) == (0, 1) and "no sample succeeded" in bad.error
    both = scores(out)
    assert both["pope"]["value"] == 100.0 and both["docvqa"]["value"] is None


def test_unscorable_failures_are_counted_by_scaling():
    from harness.results import task_scores
    from tests.engine.fakes import ToyTask

    ok = [{"id": f"q{i}", "prediction": "a", "score": 1.0} for i in range(3)]
    bad = [{"id": "q3", "prediction": None, "failed": "malformed"}]  # no empty-answer fields
    entry = task_scores(ToyTask(), ok + bad)
    assert entry["value"] == pytest.approx(75.0) and entry["scored_only"]["value"] == 100.0
    assert "1 unscorable" in entry["warnings"][-1]
