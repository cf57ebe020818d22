"""harness.results.load_runs: every result as one tidy pandas frame (run, grid, paper folders
and baseline files), the pivot a notebook user writes, and one-line errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import baseline as bl
from harness.results import COLUMNS, load_runs
from tests.report.runfolders import make_grid

PAPER_DIR = Path(__file__).resolve().parents[1] / "results" / "paper"


def _headline(df: pd.DataFrame) -> pd.DataFrame:
    return df[df.headline].set_index(["encoder", "task"])


def test_grid_rows_are_tidy_and_carry_the_table_values(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    df = load_runs([grid], metrics="all")
    assert list(df.columns) == list(COLUMNS)
    assert not df.duplicated(["run", "encoder", "task", "metric"]).any()
    head = _headline(df)
    assert sorted(head.index) == [
        ("demo_clip_l", "docvqa"),
        ("demo_clip_l", "mme"),
        ("demo_clip_l", "pope"),
        ("demo_unit_1b", "docvqa"),
        ("demo_unit_1b", "pope"),
    ]
    scores = json.loads((grid / "demo_clip_l" / "scores.json").read_text())
    for task, entry in scores.items():
        row = head.loc[("demo_clip_l", task)]
        assert row.value == pytest.approx(entry["value"]) and row.metric == entry["metric"]
        assert (row.n, row.failed) == (entry["n"], entry["failed"])
        assert row.label == "CLIP-L (demo)" and row.family == "clip_l" and row.source == "run"
    assert head.loc[("demo_clip_l", "docvqa")].failed == 1
    # the other numbers a task reported, named as the detailed table's rows: non-headline rows
    mme = df[(df.encoder == "demo_clip_l") & (df.task == "mme") & ~df.headline]
    assert "cognition" in set(mme.metric) and "subtasks/count/acc_plus" in set(mme.metric)
    assert mme.set_index("metric").loc["subtasks/count/score", "value"] == 200.0
    assert mme.ci_low.isna().all()


def test_the_notebook_pivot(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    df = load_runs([grid])  # the headline rows: the table's numbers
    assert df.headline.all() and len(df) == 5
    table = df.pivot_table(index="encoder", columns="task", values="value")
    assert list(table.index) == ["demo_clip_l", "demo_unit_1b"]
    assert table.loc["demo_unit_1b", "docvqa"] == pytest.approx(100.0)
    assert table.loc["demo_clip_l", "pope"] == pytest.approx(600 / 7)
    assert math.isnan(table.loc["demo_unit_1b", "mme"])  # not run: a missing cell


def test_intervals_stored_bootstrapped_or_none(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    stored = _headline(load_runs([grid]))
    assert stored.ci_low.isna().all()  # the grid stores none
    boot = _headline(load_runs([grid], ci="bootstrap", n_resamples=200))
    row = boot.loc[("demo_clip_l", "pope")]
    assert row.ci_low <= row.value <= row.ci_high and row.ci_low < row.ci_high
    again = _headline(load_runs([grid], ci="bootstrap", n_resamples=200))
    assert again.ci_low.equals(boot.ci_low)  # same seed, same interval
    with pytest.raises(HarnessError, match="ci must be one of"):
        load_runs([grid], ci="sometimes")
    with pytest.raises(HarnessError, match="metrics must be headline or all"):
        load_runs([grid], metrics="some")


def test_a_baseline_file_gives_the_rows_of_the_folder_it_was_written_from(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    out = bl.write(bl.from_dir(grid, n_resamples=100), tmp_path / "base.json")
    base = _headline(load_runs([out]))
    runs = _headline(load_runs([grid], ci="bootstrap", n_resamples=100))
    assert set(base.source) == {"baseline"} and set(base.run) == {str(out)}
    keys = ["value", "n", "failed", "metric", "label", "family", "protocol", "version"]
    pd.testing.assert_frame_equal(base[keys].sort_index(), runs[keys].sort_index())
    assert (base.ci_low.round(6) == runs.ci_low.round(6)).all()


def test_paper_folder_and_runs_in_one_frame(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    df = load_runs([grid / "demo_unit_1b", PAPER_DIR], metrics="all")
    assert list(dict.fromkeys(df.source)) == ["run", "paper"]
    paper = df[df.source == "paper"]
    assert set(paper.encoder) == {"clip_l", "siglip", "unit_600m", "unit_1b"}
    assert set(paper.protocol) == {"lmms-eval-0.2"} and paper.n.isna().all()
    head = _headline(paper)
    assert head.loc[("unit_1b", "ocrbench"), "value"] == 540.0
    cognition = paper[(paper.task == "mme") & (paper.metric == "cognition")]
    assert len(cognition) == 4 and not cognition.headline.any()
    # the paper comparison a notebook user writes: run minus paper, same family
    runs = df[(df.source == "run") & df.headline].set_index(["family", "task"]).value
    diff = (runs - head.value.rename_axis(["family", "task"])).dropna()
    assert diff.loc[("unit_1b", "pope")] == pytest.approx(200 / 3 - 87.54)


def test_labels_shared_by_two_runs_are_told_apart(tmp_path, monkeypatch):
    a = make_grid(tmp_path / "a", monkeypatch)
    b = make_grid(tmp_path / "b", monkeypatch)
    df = load_runs([a / "demo_unit_1b", b / "demo_unit_1b"])
    assert sorted(set(df.label)) == [
        "UNIT-1B (demo) [a/demo_unit_1b]",
        "UNIT-1B (demo) [b/demo_unit_1b]",
    ]


def test_bad_input_is_one_line_naming_the_file(tmp_path):
    with pytest.raises(HarnessError, match="run folder not found"):
        load_runs([tmp_path / "nowhere"])
    bad = tmp_path / "run"
    bad.mkdir()
    (bad / "scores.json").write_text("{not json")
    with pytest.raises(HarnessError, match=r"run[/\\]scores.json: not valid JSON"):
        load_runs([bad])
    other = tmp_path / "x.json"
    other.write_text("{}")
    with pytest.raises(HarnessError, match="x.json: not a baseline file"):
        load_runs([other])
    empty = load_runs([])
    assert list(empty.columns) == list(COLUMNS) and empty.empty
