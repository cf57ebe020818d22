"""Detailed tables, one per benchmark: every breakdown in ``scores.json`` ``metrics`` (MME
subtasks and cognition, OCRBench categories, POPE splits and metrics, SEED types, MathVista
groups, ChartQA splits), the table metric with ``±`` its bootstrap interval, sample counts.

Rows are metrics (nested dicts flattened to ``a/b/c``), columns are runs; with the paper, the
paper's rows add columns where the paper gives a number (the table metric; MME perception and
cognition to four decimals).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.columns import Column, column, ordered
from harness.report.paper import PaperTable, load_paper
from harness.report.render import Block, Cell, Doc
from harness.report.runs import Run, load_sources

CI_NOTE = "± = half the width of the 95% bootstrap interval (resampling samples; MME: image pairs)."


@dataclass
class DetailTables:
    docs: list[Doc]

    def render(self, fmt: str) -> str:
        sep = "\n" if fmt in ("latex", "tex", "html") else "\n\n"
        return sep.join(d.render(fmt) for d in self.docs)

    def to_markdown(self) -> str:
        return self.render("md")


def build_detailed(
    run_dirs: list[Path], paper: bool = False, n_resamples: int = 1000, seed: int = 0
) -> DetailTables:
    runs, paper_table = load_sources(run_dirs)
    if (paper or paper_table is not None) and paper_table is None:
        paper_table = load_paper()
    tasks = ordered(t for r in runs for t in r.tasks)
    docs = [detail_doc(t, runs, paper_table, n_resamples, seed) for t in tasks]
    return DetailTables(docs)


def detail_doc(
    task: str,
    runs: list[Run],
    paper: PaperTable | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Doc:
    have = [r for r in runs if task in r.scores]
    col = column(task, have[0].scores[task] if have else None)
    flats = [flatten(r.scores[task].get("metrics") or {}) for r in have]
    keys = [k for k in dict.fromkeys(k for f in flats for k in f) if k != col.metric]
    paper = paper or PaperTable(cells={})  # no paper: no paper columns
    fams = [f for f in paper.families if paper.value(f, task) is not None]
    header = ["Metric"] + [r.label for r in have] + [f"Paper {paper.label(f)}" for f in fams]
    rows = [
        [Cell(f"{col.label} ({col.metric}, table)")]
        + [_main_cell(r, task, col, n_resamples, seed) for r in have]
        + [Cell(_paper_extra(paper, f, task, col.metric) or paper.cells[f][task]) for f in fams]
    ]
    for k in keys:
        row = [Cell(k)] + [Cell(fmt_metric(f.get(k))) for f in flats]
        row += [Cell(_paper_extra(paper, f, task, k)) for f in fams]
        rows.append(row)
    for field, name in (("n", "samples scored"), ("failed", "samples failed")):
        rows.append(
            [Cell(name)]
            + [Cell(fmt_metric(r.scores[task].get(field))) for r in have]
            + [Cell("") for _ in fams]
        )
    versions = sorted(
        {
            f"protocol {r.scores[task].get('protocol', '?')}, "
            f"version {r.scores[task].get('version', '?')}"
            for r in have
        }
    )
    notes = [CI_NOTE] + [f"{col.label}: {v}." for v in versions]
    return Doc(
        header=header,
        keys=["metric"] + [r.key for r in have] + [f"paper_{f}" for f in fams],
        blocks=[Block(rows)],
        caption=f"{col.label} ({col.units}): detailed results.",
        notes=notes,
    )


def _main_cell(run: Run, task: str, col: Column, n_resamples: int, seed: int) -> Cell:
    value = run.value(task)
    ci = run.ci(task, n_resamples=n_resamples, seed=seed) if value is not None else None
    text = col.fmt(value)
    if ci is not None and all(x == x for x in ci):
        text += f" ± {col.fmt((ci[1] - ci[0]) / 2)}"
    return Cell(text, raw=value)


def _paper_extra(paper: PaperTable, family: str, task: str, key: str) -> str:
    if task == "mme" and key in ("perception", "cognition"):
        return paper.mme.get(family, {}).get(key, "")
    return ""


def flatten(metrics: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested metric dicts as one level with ``/``-joined keys.

    >>> flatten({"f1": 80.0, "splits": {"random": {"f1": 81.0}}})
    {'f1': 80.0, 'splits/random/f1': 81.0}
    """
    out = {}
    for k, v in metrics.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        else:
            out[key] = v
    return out


def fmt_metric(value: object) -> str:
    """A breakdown value: floats to two decimals, integers as they are, missing ``—``.

    >>> fmt_metric(12.345), fmt_metric(7), fmt_metric(None), fmt_metric(True), fmt_metric([1, 2])
    ('12.35', '7', '—', 'True', '[1, 2]')
    """
    if value is None or value != value:
        return "—"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.2f}"
    return json.dumps(value)
