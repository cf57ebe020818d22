"""``--plot``: the bar heights, error bars and paper markers, and a PNG that is written."""

from __future__ import annotations

import builtins
import struct
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report.plot import plot_table, series
from harness.report.table import build_table

from .runfolders import make_grid

PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_series_are_percent_of_each_benchmark_maximum(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    table = build_table([grid], paper=True)
    clip, unit = series(table, n_resamples=200)
    j = {c.task: i for i, c in enumerate(table.columns)}
    assert clip["values"][j["mme"]] == pytest.approx(325 / 2000 * 100)
    assert clip["values"][j["docvqa"]] == 75.0 and clip["values"][j["gqa"]] is None
    assert clip["paper"][j["mme"]] == pytest.approx(
        1503.60 / 20
    )  # the CLIP-L paper row, in percent
    assert unit["paper"][j["docvqa"]] == 71.34
    assert clip["lo"][j["docvqa"]] <= 75.0 <= clip["hi"][j["docvqa"]]
    paper_only = series(build_table([PAPER_DIR]))
    assert [s["label"] for s in paper_only][0] == "CLIP-L (paper)"
    assert paper_only[3]["values"][j["ocrbench"]] == 54.0


def test_plot_writes_a_png(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    out = plot_table(
        build_table([grid], paper=True), tmp_path / "plots" / "scores.png", n_resamples=200
    )
    width, height = _png_size(out)
    assert width > 800 and height > 500
    width, height = _png_size(plot_table(build_table([PAPER_DIR]), tmp_path / "paper.png"))
    assert width > 800


def test_missing_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(HarnessError, match=r"pip install 'unit-harness\[plot\]'"):
        plot_table(build_table([grid]), tmp_path / "x.png")
