"""``python -m harness.report``: flags, Hydra-style overrides, output files, errors, --add-ci."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.report.cli import main

from .runfolders import make_grid, md_blocks

ROOT = Path(__file__).resolve().parents[2]
PAPER_DIR = ROOT / "results" / "paper"


def test_module_entry_point_prints_the_paper_table():
    proc = subprocess.run(
        [sys.executable, "-m", "harness.report", str(PAPER_DIR)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    [block] = md_blocks(proc.stdout)
    assert block[4][:4] == ["UNIT-1B", "64.90", "56.78", "66.64"]


def test_formats_out_file_and_extension(tmp_path, monkeypatch, capsys):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    assert main([str(grid), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("encoder,gqa,okvqa")
    assert main([str(grid), "--paper", "--out", str(tmp_path / "t.tex")]) == 0
    assert "wrote" in capsys.readouterr().out
    tex = (tmp_path / "t.tex").read_text()
    assert tex.startswith("\\begin{table}") and "\\toprule" in tex
    assert main([str(grid), "--out", str(tmp_path / "t.html")]) == 0
    page = (tmp_path / "t.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table" in page
    assert main([str(grid), "--format", "text"]) == 0
    assert "* best in column" in capsys.readouterr().out


def test_detailed_and_plot(tmp_path, monkeypatch, capsys):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    assert (
        main([str(grid), "--detailed", "--plot", str(tmp_path / "p.png"), "--n-resamples", "100"])
        == 0
    )
    out = capsys.readouterr().out
    assert len(md_blocks(out)) == 1 + 3  # the table, then DocVQA, POPE, MME
    assert "MME (perception /2000): detailed results." in out
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_hydra_overrides_give_the_same_report(tmp_path, monkeypatch, capsys):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    assert main([str(grid), "--paper", "--format", "md"]) == 0
    flags = capsys.readouterr().out
    assert main([f"runs=[{grid}]", "paper=true", "format=md"]) == 0
    assert capsys.readouterr().out == flags
    assert main(["runs=[x]", "colour=red"]) == 2
    assert capsys.readouterr().err.startswith("error: bad report override")


def test_compare_from_the_command_line(tmp_path, monkeypatch, capsys):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    assert (
        main(
            [
                "--compare",
                str(grid / "demo_clip_l"),
                str(grid / "demo_unit_1b"),
                "--n-resamples",
                "100",
            ]
        )
        == 0
    )
    [block] = md_blocks(capsys.readouterr().out)
    assert block[1][:4] == ["DocVQA", "75.00", "100.00", "+25.00"]


def test_errors_are_one_line(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: run folder not found") and err.count("\n") == 1
    assert main([]) == 2
    assert "name at least one run folder" in capsys.readouterr().err


def test_add_ci_writes_intervals_into_scores_json(tmp_path, monkeypatch, capsys):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    assert main([str(grid), "--add-ci", "--n-resamples", "200"]) == 0
    scores = json.loads((grid / "demo_clip_l" / "scores.json").read_text())
    lo, hi = scores["docvqa"]["ci95"]
    assert lo <= scores["docvqa"]["value"] <= hi
    assert set(scores) == {"docvqa", "pope", "mme"} and all("ci95" in v for v in scores.values())
