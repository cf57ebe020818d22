"""``--compare A B``: is the difference between two runs real? A paired test per benchmark on
the samples both runs scored: the difference B − A, its bootstrap interval and a p-value."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.report import columns as cols
from harness.report.render import Block, Cell, Doc
from harness.report.runs import Run, load_sources
from harness.report.stats import paired_compare


def single_run(path: str | Path) -> Run:
    runs, paper = load_sources([path])
    if paper is not None or len(runs) != 1:
        names = ", ".join(r.path.name for r in runs) or "none"
        raise HarnessError(
            f"{path}: --compare needs one run folder, this holds {len(runs)} runs ({names}); "
            f"name one of them, e.g. {Path(path) / (runs[0].path.name if runs else 'ENCODER')}"
        )
    return runs[0]


def build_compare(
    a_dir: str | Path,
    b_dir: str | Path,
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Doc:
    a, b = single_run(a_dir), single_run(b_dir)
    if a.label == b.label:
        a.label, b.label = f"A: {a.label}", f"B: {b.label}"
    pct = f"{level * 100:g}%"
    doc = Doc(
        header=[
            "Benchmark",
            a.label,
            b.label,
            "Δ (B − A)",
            f"{pct} CI of Δ",
            "p",
            "test",
            "paired n",
        ],
        keys=["task", "a", "b", "diff", "ci95", "p", "test", "n"],
        caption=f"Paired comparison of B = {b.path} against A = {a.path} "
        f"({n_resamples} bootstrap resamples, seed {seed}).",
    )
    rows: list[list[Cell]] = []
    for task in cols.ordered(t for t in a.tasks if t in b.scores):
        rows.append(_row(task, a, b, n_resamples, seed, level, doc.notes))
    for run, other in ((a, b), (b, a)):
        only = [t for t in run.tasks if t not in other.scores]
        if only:
            doc.notes.append(f"Only in {run.label}: {', '.join(only)} (not compared).")
    if not rows:
        raise HarnessError(f"{a.path} and {b.path} share no task to compare")
    doc.blocks.append(Block(rows))
    doc.notes.append(
        "p: exact McNemar test for 0/1 per-sample scores, else the paired bootstrap's "
        "two-sided p-value; an interval excluding 0 marks a difference unlikely to be noise."
    )
    return doc


def _row(
    task: str, a: Run, b: Run, n_resamples: int, seed: int, level: float, notes: list[str]
) -> list[Cell]:
    col = cols.column(task, a.scores[task])
    try:
        res = paired_compare(
            task, a.records(task), b.records(task), n_resamples=n_resamples, seed=seed, level=level
        )
    except HarnessError as exc:
        notes.append(f"{col.label}: not tested ({exc}).")
        va, vb = a.value(task), b.value(task)
        d = vb - va if va is not None and vb is not None else None
        return [
            Cell(col.label),
            Cell(col.fmt(va), raw=va),
            Cell(col.fmt(vb), raw=vb),
            Cell(col.fmt(d, signed=True), raw=d),
            Cell("—"),
            Cell("—"),
            Cell("—"),
            Cell("—"),
        ]
    lo, hi = res["ci95"]
    if res["only_a"] or res["only_b"]:
        notes.append(
            f"{col.label}: compared on the {res['n']} samples both runs scored "
            f"({res['only_a']} scored only in A, {res['only_b']} only in B)."
        )
    return [
        Cell(col.label),
        Cell(col.fmt(res["a"]), raw=res["a"]),
        Cell(col.fmt(res["b"]), raw=res["b"]),
        Cell(col.fmt(res["diff"], signed=True), raw=res["diff"]),
        Cell(f"[{col.fmt(lo, signed=True)}, {col.fmt(hi, signed=True)}]", raw=f"[{lo}, {hi}]"),
        Cell(fmt_p(res["p"]), raw=res["p"]),
        Cell(res["test"], raw=res["test"]),
        Cell(str(res["n"]), raw=res["n"]),
    ]


def fmt_p(p: float) -> str:
    """Three significant figures; tiny values in scientific notation.

    >>> fmt_p(0.04512), fmt_p(1.0), fmt_p(3.2e-7)
    ('0.0451', '1', '3.2e-07')
    """
    return f"{p:.3g}"
