"""Results as one tidy pandas DataFrame: :func:`load_runs`.

One row per (run, encoder, task, metric). By default only each task's *headline* row
(``headline`` True): its table metric in the table's units, failed samples counted as wrong
(``scores.json`` ``value``), with its 95% interval in ``ci_low``/``ci_high``. With
``metrics="all"`` the other rows follow, every other number the task reported (nested ones
named as in the detailed table, e.g. ``splits/random/f1``, MME's ``cognition``), in the
task's own units, without an interval.

Paths may be run folders, grid folders (every sub-folder with a ``scores.json``), paper
folders (``results/paper``: one run per encoder family, ``source`` ``"paper"``) or baseline
files written by ``python -m harness.regress --write-baseline`` (``source`` ``"baseline"``).
A notebook user::

    df = load_runs(["runs/x"])
    df.pivot_table(index="encoder", columns="task", values="value")

>>> from importlib.resources import files
>>> df = load_runs([str(files("harness") / "paper")])
>>> table = df.pivot_table(index="encoder", columns="task", values="value")
>>> float(table.loc["unit_1b", "ocrbench"]), float(table.loc["clip_l", "mme"])
(540.0, 1503.6)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError
from harness.report import era
from harness.report.columns import column
from harness.report.detail import flatten
from harness.report.paper import PaperTable, load_paper
from harness.report.runs import Run, _disambiguate, expand, load_run

COLUMNS = (
    "source",
    "run",
    "encoder",
    "label",
    "family",
    "model",
    "task",
    "metric",
    "headline",
    "value",
    "n",
    "failed",
    "max_value",
    "protocol",
    "version",
    "ci_low",
    "ci_high",
)
"""The frame's columns, in order (``run``: the folder or file the row was read from)."""

_CI = ("stored", "bootstrap", "none")
_METRICS = ("headline", "all")


def load_runs(
    paths: Iterable[str | Path],
    ci: str = "stored",
    n_resamples: int = 1000,
    seed: int = 0,
    metrics: str = "headline",
) -> pd.DataFrame:
    """Every result under ``paths`` as a tidy frame (columns :data:`COLUMNS`).

    ``ci``: ``"stored"`` reads intervals from ``scores.json`` (``ci95``); ``"bootstrap"``
    also bootstraps the missing ones from ``predictions/<task>.jsonl``; ``"none"`` leaves
    them empty. ``metrics``: ``"headline"`` (the table's numbers) or ``"all"``. Rows keep
    the order of ``paths`` (a grid in its own order), tasks in the
    order of each ``scores.json``. Bad input is a one-line HarnessError naming the file.
    """
    if ci not in _CI:
        raise HarnessError(f"load_runs: ci must be one of {', '.join(_CI)}, got {ci!r}")
    if metrics not in _METRICS:
        raise HarnessError(f"load_runs: metrics must be headline or all, got {metrics!r}")
    runs: list[Run] = []
    sources: list[tuple[str, Any]] = []
    for p in map(Path, paths):
        if p.is_file():
            sources.append(("baseline", p))
            continue
        run_dirs, paper_dirs = expand([p])
        for d in run_dirs:
            run = load_run(d)
            runs.append(run)
            sources.append(("run", run))
        sources += [("paper", d) for d in paper_dirs]
    _disambiguate(runs)
    rows: list[dict[str, Any]] = []
    for kind, src in sources:
        if kind == "run":
            rows += run_rows(src, ci, n_resamples, seed)
        elif kind == "paper":
            rows += paper_rows(load_paper(src))
        else:
            rows += baseline_rows(src)
    df = frame(rows)
    return df if metrics == "all" else df[df.headline].reset_index(drop=True)


def runs_frame(
    runs: Iterable[Run], ci: str = "stored", n_resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """The frame of runs already loaded (``harness.report.runs``), as :func:`load_runs`
    builds it."""
    return frame([row for run in runs for row in run_rows(run, ci, n_resamples, seed)])


def headline(df: pd.DataFrame, source: str = "run") -> pd.DataFrame:
    """The headline rows of one ``source`` indexed by (run, task): the table's cells (a run
    named twice counts once)."""
    out = df[df.headline & (df.source == source)].set_index(["run", "task"])
    return out[~out.index.duplicated()]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows (dicts keyed by :data:`COLUMNS`) as the typed frame (``n``/``failed`` nullable ints)."""
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    df["value"] = pd.to_numeric(df["value"], errors="coerce").astype(float)
    for col in ("max_value", "ci_low", "ci_high"):
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    for col in ("n", "failed"):
        df[col] = pd.array([None if _missing(v) else int(v) for v in df[col]], dtype="Int64")
    df["headline"] = df["headline"].astype(bool)
    return df


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _num(v: Any) -> float | None:
    """A finite number, or None (booleans and text are not numbers).

    >>> _num(3), _num(True), _num("1"), _num(float("nan"))
    (3.0, None, None, None)
    """
    if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
        return None
    return float(v)


def numbers(metrics: Any) -> Iterator[tuple[str, float]]:
    """The numbers of a task's ``metrics`` dict, named as the detailed table names its rows
    (:func:`harness.report.detail.flatten`: nested names joined with ``/``).

    >>> list(numbers({"f1": 80.0, "splits": {"random": {"f1": 90}}, "note": "x", "ok": True}))
    [('f1', 80.0), ('splits/random/f1', 90.0)]
    """
    if not isinstance(metrics, dict):
        return
    for name, value in flatten(metrics).items():
        number = _num(value)
        if number is not None:
            yield name, number


def run_rows(
    run: Run, ci: str = "stored", n_resamples: int = 1000, seed: int = 0
) -> list[dict[str, Any]]:
    """One run's rows: per task its headline metric, then every other number it reported."""
    if ci not in _CI:
        raise HarnessError(f"ci must be one of {', '.join(_CI)}, got {ci!r}")
    base: dict[str, Any] = {
        "source": "run",
        "run": str(run.path),
        "encoder": run.key,
        "label": run.label,
        "family": run.family,
        "model": run.model,
    }
    rows: list[dict[str, Any]] = []
    for task, entry in run.scores.items():
        interval = (
            None
            if ci == "none"
            else run.ci(task, compute=ci == "bootstrap", n_resamples=n_resamples, seed=seed)
        )
        metric = str(entry.get("metric") or column(task).metric)
        common = base | {
            "task": task,
            "n": entry.get("n"),
            "failed": entry.get("failed"),
            "max_value": entry.get("max_value"),
            "protocol": entry.get("protocol") or "lmms-eval",
            "version": entry.get("version"),
        }
        lo, hi = interval if interval is not None else (None, None)
        rows.append(
            common
            | {
                "metric": metric,
                "headline": True,
                "value": run.value(task),
                "ci_low": lo,
                "ci_high": hi,
            }
        )
        rows += [
            common | {"metric": name, "headline": False, "value": value}
            for name, value in numbers(entry.get("metrics"))
            if name != metric
        ]
    return rows


def paper_rows(paper: PaperTable) -> list[dict[str, Any]]:
    """The paper's rows: the table metric per family and task (headline), MME cognition."""
    rows: list[dict[str, Any]] = []
    for family in paper.families:
        base: dict[str, Any] = {
            "source": "paper",
            "run": paper.where,
            "encoder": family,
            "label": paper.label(family),
            "family": family,
            "model": None,
            "protocol": era.PAPER_PROTOCOL,
            "version": None,
        }
        for task in paper.cells[family]:
            col = column(task)
            rows.append(
                base
                | {
                    "task": task,
                    "metric": col.metric,
                    "headline": True,
                    "value": paper.value(family, task),
                    "max_value": col.max_value,
                }
            )
        for name, text in paper.mme.get(family, {}).items():
            if name != column("mme").metric and text not in (None, ""):
                rows.append(
                    base | {"task": "mme", "metric": name, "headline": False, "value": float(text)}
                )
    return rows


def baseline_rows(path: Path) -> list[dict[str, Any]]:
    """A baseline file's rows (``harness.report.baseline``): the headline metric per task."""
    from harness.report import baseline

    data = baseline.read(path)
    rows: list[dict[str, Any]] = []
    for key, run in data["runs"].items():
        base: dict[str, Any] = {
            "source": "baseline",
            "run": str(path),
            "encoder": key,
            "label": run.get("label") or key,
            "family": run.get("family"),
            "model": run.get("model"),
        }
        for task, entry in run["tasks"].items():
            stored = entry.get("ci95")
            lo, hi = stored if isinstance(stored, list) and len(stored) == 2 else (None, None)
            rows.append(
                base
                | {
                    "task": task,
                    "metric": entry.get("metric") or column(task).metric,
                    "headline": True,
                    "value": entry["value"],
                    "n": entry.get("n"),
                    "failed": entry.get("failed"),
                    "max_value": entry.get("max_value"),
                    "protocol": entry.get("protocol") or "lmms-eval",
                    "version": entry.get("version"),
                    "ci_low": lo,
                    "ci_high": hi,
                }
            )
    return rows
