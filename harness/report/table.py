"""The paper's table from any set of run folders, with the paper's own numbers beside it.

Rows are runs (labelled with their encoder's label), columns the ten benchmarks in the paper's
order and units (then any other task), missing cells ``—``, the best value per column in bold.
With ``paper=True`` a second block holds the paper's rows and a third the signed difference
of each run to the paper row of its encoder family.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.names import PAPER_TASKS
from harness.report import era
from harness.report.columns import Column, column, ordered
from harness.report.frame import frame, headline, paper_rows, run_rows
from harness.report.paper import SOURCE, PaperTable, load_paper
from harness.report.render import Block, Cell, Doc
from harness.report.runs import Run, load_sources

UNITS_NOTE = (
    "Units: percent; OCRBench: points out of 1000; MME: perception score "
    "(sum of ten subtask scores, out of 2000; cognition is in the detailed table)."
)


@dataclass
class Table:
    """The built table; ``doc`` renders it, ``runs``/``paper``/``columns`` feed plots and tests;
    ``frame`` holds its numbers (``harness.results.load_runs``'s rows: the runs', and the
    paper's when shown)."""

    runs: list[Run]
    paper: PaperTable | None
    columns: list[Column]
    doc: Doc
    show_paper: bool = False
    frame: pd.DataFrame | None = None

    def to_markdown(self) -> str:
        return self.doc.to_markdown()

    def to_csv(self) -> str:
        return self.doc.to_csv()

    def to_latex(self) -> str:
        return self.doc.to_latex()

    def to_html(self) -> str:
        return self.doc.to_html()

    def to_text(self) -> str:
        return self.doc.to_text()

    def render(self, fmt: str) -> str:
        return self.doc.render(fmt)


def build_table(run_dirs: list[Path], paper: bool = False) -> Table:
    """Gather run folders (grid folders expand to their runs; a paper folder adds the paper
    block) and build the table from their results frame."""
    runs, paper_table = load_sources(run_dirs)
    show_paper = paper or paper_table is not None
    if show_paper and paper_table is None:
        paper_table = load_paper()
    tasks = ordered(list(PAPER_TASKS) + [t for r in runs for t in r.tasks])
    columns = [column(t, next((r.scores[t] for r in runs if t in r.scores), None)) for t in tasks]
    rows = [row for r in runs for row in run_rows(r, ci="none")]
    df = frame(rows + (paper_rows(paper_table) if show_paper and paper_table else []))
    cells = headline(df)
    doc = Doc(
        header=["Encoder"] + [c.label for c in columns],
        keys=["encoder"] + tasks,
        caption=("Scores of each run. " if runs else f"The paper's table: {SOURCE}. ")
        + UNITS_NOTE
        + " Best per column in bold.",
    )
    if runs:
        doc.blocks.append(
            Block(_bold_best([_run_row(r, columns, cells, show_paper) for r in runs]))
        )
    if show_paper and paper_table is not None:
        title = f"Paper: {SOURCE}" if runs else None
        doc.blocks.append(
            Block(
                _bold_best([_paper_row(paper_table, f, columns) for f in paper_table.families]),
                title=title,
            )
        )
        if runs:
            diffs = paper_difference(df)
            diff = [
                _diff_row(r, paper_table, columns, diffs)
                for r in runs
                if r.family in paper_table.cells
            ]
            in_table = cells.index.get_level_values("task").isin(tasks)
            marked = era.marked_protocols(cells[in_table].protocol)
            if marked:
                doc.notes.append(era.legend(marked))
            if diff:
                doc.blocks.append(
                    Block(diff, title="Difference to the paper (run − paper, same encoder family)")
                )
            else:
                doc.notes.append(
                    "No run's encoder family (meta.json encoder.family) matches a "
                    "paper row: no difference block."
                )
    doc.notes += _warnings(runs)
    return Table(
        runs=runs, paper=paper_table, columns=columns, doc=doc, show_paper=show_paper, frame=df
    )


def paper_difference(df: pd.DataFrame) -> pd.DataFrame:
    """Run minus paper, same encoder family and task, indexed by (run, task): columns
    ``value`` (the run's), ``paper``, ``diff`` and ``protocol`` (the run's)."""
    runs = df[df.headline & (df.source == "run")]
    paper = df[df.headline & (df.source == "paper")][["family", "task", "value"]]
    both = runs.merge(paper.rename(columns={"value": "paper"}), on=["family", "task"])
    both["diff"] = both["value"] - both["paper"]
    both = both.drop_duplicates(["run", "task"])  # a run named twice counts once
    return both.set_index(["run", "task"])[["value", "paper", "diff", "protocol"]]


def _cell(df: pd.DataFrame, run: Run, task: str) -> Any:
    """The row of ``df`` (indexed by run, task) for one cell, or None."""
    key = (str(run.path), task)
    return df.loc[key] if key in df.index else None


def _value(x: Any) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _off_era(row: Any) -> bool:
    return row is not None and era.off_era({"protocol": row["protocol"]})


def _run_row(
    run: Run, columns: list[Column], cells: pd.DataFrame, paper: bool = False
) -> list[Cell]:
    out = [Cell(run.label)]
    for c in columns:
        row = _cell(cells, run, c.task)
        v = _value(row["value"]) if row is not None else None
        sign = era.MARK if paper and v is not None and _off_era(row) else ""  # unlike the paper
        failed = None if row is None or pd.isna(row["failed"]) else int(row["failed"])
        out.append(Cell(c.fmt(v) + sign + _failed_note({"failed": failed}), raw=v))
    return out


def _failed_note(entry: dict[str, Any] | None) -> str:
    """`` (3 failed)`` after a cell whose task had failed samples (they count as wrong).

    >>> _failed_note({"failed": 3}), _failed_note({"failed": 0}), _failed_note(None)
    (' (3 failed)', '', '')
    """
    failed = (entry or {}).get("failed")
    return f" ({int(failed)} failed)" if isinstance(failed, (int, float)) and failed > 0 else ""


def _paper_row(paper: PaperTable, family: str, columns: list[Column]) -> list[Cell]:
    cells = [Cell(paper.label(family))]
    for c in columns:
        text = paper.cells[family].get(c.task)
        cells.append(Cell(text, raw=text) if text else Cell(c.fmt(None)))
    return cells


def _diff_row(
    run: Run, paper: PaperTable, columns: list[Column], diffs: pd.DataFrame
) -> list[Cell]:
    cells = [Cell(f"{run.label} − {paper.label(run.family or '')}")]
    for c in columns:
        row = _cell(diffs, run, c.task)
        d = _value(row["diff"]) if row is not None else None
        sign = era.MARK if d is not None and _off_era(row) else ""
        cells.append(Cell(c.fmt(d, signed=True) + sign, raw=None if d is None else round(d, 6)))
    return cells


def _bold_best(rows: list[list[Cell]]) -> list[list[Cell]]:
    """Bold the highest value of each column (all ties); a column with one row, or where every
    row has the same value, stays plain (nothing stands out)."""
    if len(rows) < 2:
        return rows
    for j in range(1, len(rows[0])):
        values = [_num(r[j].raw) for r in rows]
        present = [v for v in values if v is not None]
        if len(present) < 2:
            continue
        best = max(present)
        if min(present) == best:
            continue
        for r, v in zip(rows, values):
            r[j].bold = v is not None and abs(v - best) <= 1e-12 * max(1.0, abs(best))
    return rows


def _num(raw: Any) -> float | None:  # any cell: None where not a number
    try:
        return float(raw) if raw not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _warnings(runs: list[Run]) -> list[str]:
    """One note per distinct warning, naming the runs it concerns."""
    seen: dict[str, list[str]] = {}
    for r in runs:
        for task, entry in r.scores.items():
            texts = [f"{task}: {w}" for w in entry.get("warnings") or []]
            if entry.get("failed") and not any("failed sample(s)" in t for t in texts):
                texts.append(f"{task}: {entry['failed']} failed sample(s), counted as wrong")
            for t in texts:
                seen.setdefault(t, []).append(r.label)
    return [f"Note: {t} ({', '.join(labels)})." for t, labels in seen.items()]
