"""The score regression gate: exit 0 within tolerance, 1 with a table of regressions, 2 on
unusable input with a one-line message; and the baseline file it writes."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.regress import main

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "report_runfolders", ROOT / "tests" / "report" / "runfolders.py"
)
rf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(rf)


@pytest.fixture
def grid(tmp_path, monkeypatch):
    return rf.make_grid(tmp_path / "grid", monkeypatch)


@pytest.fixture
def baseline(grid, tmp_path):
    out = tmp_path / "baselines" / "demo.json"
    assert main(["--write-baseline", str(grid), "--out", str(out), "--n-resamples", "200"]) == 0
    return out


def _set(run_dir: Path, task: str, **fields):
    """Edit one task's entry in a run folder's scores.json (what a changed metric would write)."""
    path = run_dir / "scores.json"
    scores = json.loads(path.read_text())
    scores[task].update(fields)
    path.write_text(json.dumps(scores))


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_written_baseline_format(baseline, capsys):
    data = json.loads(baseline.read_text())
    assert data["format"] == "unit-harness-baseline" and data["format_version"] == 1
    assert list(data["runs"]) == ["demo_clip_l", "demo_unit_1b"]
    clip = data["runs"]["demo_clip_l"]
    assert (clip["label"], clip["family"], clip["model"]) == ("CLIP-L (demo)", "clip_l", "mllm")
    assert list(clip["tasks"]) == ["docvqa", "pope", "mme"]  # paper order
    doc = clip["tasks"]["docvqa"]
    assert (doc["metric"], doc["value"], doc["n"], doc["failed"]) == ("anls", 75.0, 4, 1)
    assert doc["ci95"][0] <= 75.0 <= doc["ci95"][1]
    assert data["git_commit"] == "abc123"


def test_unchanged_scores_pass(grid, baseline, capsys):
    code, out, err = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 0 and out.startswith("ok: 5 benchmark score(s) within tolerance") and not err
    # a run or grid folder works as the baseline too
    assert _run(capsys, "--baseline", grid, "--current", grid)[0] == 0


def test_a_drop_beyond_tolerance_fails_with_a_table(grid, baseline, capsys):
    _set(grid / "demo_clip_l", "docvqa", value=74.6)  # -0.40: within the default 0.5
    _set(grid / "demo_unit_1b", "pope", value=60.0)  # -6.67
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("REGRESSION: 1 of 5 benchmark score(s) fell beyond tolerance")
    [row] = [ln.split() for ln in lines if ln.startswith("demo_")]
    assert row == ["demo_unit_1b", "POPE", "66.67", "60.00", "-6.67", "0.50", "0", "→", "0"]
    assert _run(capsys, "--baseline", baseline, "--current", grid, "--tolerance", "0.3")[0] == 1
    assert (
        _run(capsys, "--baseline", baseline, "--current", grid, "--per-task-tolerance", "pope=7")[0]
        == 0
    )
    assert (
        _run(capsys, "--baseline", baseline, "--current", grid, "--per-task-tolerance", "pope=6")[0]
        == 1
    )


def test_ci_tolerance_is_the_lower_half_of_the_baseline_interval(grid, baseline, capsys):
    data = json.loads(baseline.read_text())
    data["runs"]["demo_clip_l"]["tasks"]["docvqa"]["ci95"] = [
        70.0,
        80.0,
    ]  # allowed drop 75 - 70 = 5
    baseline.write_text(json.dumps(data))
    _set(grid / "demo_clip_l", "docvqa", value=70.5)
    assert _run(capsys, "--baseline", baseline, "--current", grid, "--ci")[0] == 0
    _set(grid / "demo_clip_l", "docvqa", value=69.5)
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid, "--ci")
    assert code == 1 and "5.00" in out
    # an explicit per-task tolerance overrides the interval
    assert (
        _run(
            capsys,
            "--baseline",
            baseline,
            "--current",
            grid,
            "--ci",
            "--per-task-tolerance",
            "docvqa=6",
        )[0]
        == 0
    )


def test_more_failed_samples_or_no_score_is_a_regression(grid, baseline, capsys):
    _set(grid / "demo_unit_1b", "docvqa", n=3, failed=1)
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 1 and "more failed samples" in out and "0 → 1" in out
    _set(grid / "demo_unit_1b", "docvqa", n=0, failed=4, value=None)
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 1 and "no score" in out


def test_improvements_pass_with_a_note(grid, baseline, capsys):
    _set(grid / "demo_clip_l", "docvqa", value=90.0)
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 0 and "1 score(s) improved beyond tolerance" in out


def _one_line_error(capsys, *args, match):
    code, out, err = _run(capsys, *args)
    assert code == 2 and not out
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err, err
    return err


def test_unusable_input_exits_2_with_one_line(grid, baseline, tmp_path, capsys):
    b, c = "--baseline", "--current"
    _one_line_error(capsys, b, tmp_path / "nope.json", c, grid, match="baseline file not found")
    _one_line_error(capsys, b, baseline, c, tmp_path / "nope", match="run folder not found")
    (tmp_path / "bad.json").write_text("{}")
    _one_line_error(capsys, b, tmp_path / "bad.json", c, grid, match="not a baseline file")
    _one_line_error(
        capsys,
        b,
        baseline,
        c,
        grid / "demo_clip_l",
        match="runs differ (missing from current: demo_unit_1b)",
    )
    _one_line_error(
        capsys,
        b,
        baseline,
        c,
        grid,
        "--per-task-tolerance",
        "gqa=1",
        match="not in the baseline: gqa",
    )
    _one_line_error(
        capsys, b, baseline, c, grid, "--per-task-tolerance", "pope", match="expects TASK=NUMBER"
    )
    _one_line_error(capsys, "--write-baseline", grid, match="needs --out")
    _one_line_error(capsys, b, baseline, match="give --baseline FILE_OR_DIR and --current RUN_DIR")


def test_tasks_that_differ_exit_2(grid, baseline, capsys):
    scores_path = grid / "demo_unit_1b" / "scores.json"
    scores = json.loads(scores_path.read_text())
    pope = scores.pop("pope")
    scores_path.write_text(json.dumps(scores))
    _one_line_error(
        capsys,
        "--baseline",
        baseline,
        "--current",
        grid,
        match="tasks differ for run demo_unit_1b (missing from current: pope)",
    )
    scores.update(pope=pope, extra={"value": 1.0, "n": 1, "failed": 0})
    scores_path.write_text(json.dumps(scores))
    _one_line_error(
        capsys, "--baseline", baseline, "--current", grid, match="not in the baseline: extra"
    )


def test_sample_counts_that_differ_exit_2(grid, baseline, capsys):
    _set(grid / "demo_clip_l", "pope", n=7)
    _one_line_error(
        capsys,
        "--baseline",
        baseline,
        "--current",
        grid,
        match="demo_clip_l/pope: 7 samples in the current run but 8 in the baseline",
    )


def test_ci_without_intervals_exits_2(grid, baseline, capsys):
    data = json.loads(baseline.read_text())
    del data["runs"]["demo_clip_l"]["tasks"]["mme"]["ci95"]
    baseline.write_text(json.dumps(data))
    _one_line_error(
        capsys,
        "--baseline",
        baseline,
        "--current",
        grid,
        "--ci",
        match="no ci95 for demo_clip_l/mme",
    )


def test_module_entry_point_exit_codes(grid, baseline):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "harness.regress", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )

    # the fakes are not installed in a fresh process: DocVQA only, through the real task
    single = grid / "demo_unit_1b"
    scores = json.loads((single / "scores.json").read_text())
    (single / "scores.json").write_text(json.dumps({"docvqa": scores["docvqa"]}))
    out = baseline.parent / "single.json"
    assert run("--write-baseline", single, "--out", out).returncode == 0
    assert run("--baseline", out, "--current", single).returncode == 0
    _set(single, "docvqa", value=99.0)
    proc = run("--baseline", out, "--current", single)
    assert proc.returncode == 1 and "REGRESSION" in proc.stdout
    proc = run("--baseline", out, "--current", grid / "missing")
    assert (
        proc.returncode == 2
        and proc.stderr.startswith("error: run folder not found")
        and "Traceback" not in proc.stderr
    )


def _edit_predictions(run_dir: Path, task: str, edit):
    """Rewrite one task's predictions file, record by record (``edit`` returns the new record)."""
    path = run_dir / "predictions" / f"{task}.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(edit(i, r)) + "\n" for i, r in enumerate(recs)))


def test_the_baseline_keeps_a_digest_of_each_tasks_predictions(grid, baseline):
    from harness.regress import predictions_digest, sample_hash

    doc = json.loads(baseline.read_text())["runs"]["demo_clip_l"]["tasks"]["docvqa"]
    recs = [
        json.loads(line) for line in (grid / "demo_clip_l" / "predictions" / "docvqa.jsonl").open()
    ]
    assert doc["predictions"] == predictions_digest(recs)
    assert doc["predictions"]["count"] == 5 == doc["n"] + doc["failed"]
    assert len(doc["predictions"]["sha256"]) == 64
    failed = next(r for r in recs if r.get("prediction") is None)
    assert doc["predictions"]["samples"][str(failed["id"])] == sample_hash(None)


def test_changed_predictions_with_the_same_scores_exit_3(grid, baseline, capsys):
    # two wrong DocVQA answers replaced by other wrong answers: same score, other predictions
    _edit_predictions(
        grid / "demo_clip_l",
        "docvqa",
        lambda i, r: {**r, "prediction": "qqqqqq"} if r.get("prediction") == "zzzzzz" else r,
    )
    _edit_predictions(
        grid / "demo_unit_1b",
        "pope",
        lambda i, r: {**r, "prediction": r["prediction"] + " "} if i < 3 else r,
    )
    code, out, err = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 3 and not err, out + err
    lines = out.splitlines()
    assert lines[0].startswith("PREDICTIONS CHANGED in 2 of 5 task(s)")
    rows = sorted(ln.split() for ln in lines if ln.startswith("demo_"))
    assert rows == [["demo_clip_l", "DocVQA", "1", "5"], ["demo_unit_1b", "POPE", "3", "8"]]
    assert "rewrite the baseline" in out
    # --scores-only checks the scores alone; a folder as the baseline compares predictions too
    assert _run(capsys, "--baseline", baseline, "--current", grid, "--scores-only")[0] == 0
    assert _run(capsys, "--baseline", grid, "--current", grid)[0] == 0


def test_a_score_regression_wins_over_changed_predictions(grid, baseline, capsys):
    _edit_predictions(grid / "demo_unit_1b", "pope", lambda i, r: {**r, "prediction": "maybe"})
    _set(grid / "demo_unit_1b", "pope", value=0.0)
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 1 and "REGRESSION: 1 of 5" in out and "PREDICTIONS CHANGED in 1 of 5" in out


def test_a_baseline_without_digests_compares_scores_only(grid, baseline, capsys):
    data = json.loads(baseline.read_text())
    for run in data["runs"].values():
        for entry in run["tasks"].values():
            del entry["predictions"]
    baseline.write_text(json.dumps(data))
    _edit_predictions(
        grid / "demo_unit_1b", "pope", lambda i, r: {**r, "prediction": r["prediction"] + " "}
    )
    code, out, _ = _run(capsys, "--baseline", baseline, "--current", grid)
    assert code == 0 and "no prediction digests (scores only)" in out


def test_the_gate_compares_the_results_frame(grid, baseline, capsys, monkeypatch):
    """The scores the gate compares are harness.results.load_runs's rows (the frame the table
    and the plots read): a value changed in the frame alone is reported."""
    import harness.results

    real = harness.results.load_runs

    def lowered(paths, **kw):
        df = real(paths, **kw)
        if str(paths[0]) == str(grid):
            df.loc[df.index[0], "value"] = float(df.loc[df.index[0], "value"]) - 50.0
        return df

    monkeypatch.setattr(harness.results, "load_runs", lowered)
    assert main(["--baseline", str(baseline), "--current", str(grid), "--scores-only"]) == 1
    assert "REGRESSION" in capsys.readouterr().out
