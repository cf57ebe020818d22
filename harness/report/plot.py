"""``--plot FILE.png``: grouped bars (benchmarks × runs) in percent of each benchmark's maximum,
bootstrap error bars, and the paper's value for each run's encoder family as a marker.

matplotlib is the optional extra ``plot``; it is imported only here, when a plot is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.report.columns import Column
from harness.report.frame import frame, headline, paper_rows, runs_frame
from harness.report.paper import SOURCE
from harness.report.table import Table

if TYPE_CHECKING:  # matplotlib (the plot extra) is imported when a plot is asked for
    from matplotlib.figure import Figure


def _figure_class() -> type[Figure]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise HarnessError("plotting needs matplotlib: pip install 'unit-harness[plot]'") from None
    return Figure


def series(table: Table, n_resamples: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """The bars: one series per run (or per paper row when there are no runs), read from the
    results frame (``harness.report.frame``; intervals stored or bootstrapped).

    Each series: ``label``, ``values`` / ``lo`` / ``hi`` / ``paper`` per column in percent of the
    column's maximum (``None`` where missing).
    """
    cols = table.columns
    paper = frame(paper_rows(table.paper)) if table.paper is not None else frame([])
    by_family = paper[paper.headline].set_index(["family", "task"])["value"]
    out = []
    if table.runs:
        cells = headline(runs_frame(table.runs, ci="bootstrap", n_resamples=n_resamples, seed=seed))
        for run in table.runs:
            s: dict[str, Any] = {"label": run.label, "values": [], "lo": [], "hi": [], "paper": []}
            for c in cols:
                key = (str(run.path), c.task)
                row = cells.loc[key] if key in cells.index else None
                p = by_family.get((run.family, c.task)) if table.show_paper else None
                s["values"].append(_pct(row["value"] if row is not None else None, c))
                s["lo"].append(_pct(row["ci_low"] if row is not None else None, c))
                s["hi"].append(_pct(row["ci_high"] if row is not None else None, c))
                s["paper"].append(_pct(p, c))
            out.append(s)
    elif table.paper:
        for fam in table.paper.families:
            vals = [_pct(by_family.get((fam, c.task)), c) for c in cols]
            out.append(
                {
                    "label": f"{table.paper.label(fam)} (paper)",
                    "values": vals,
                    "lo": [None] * len(cols),
                    "hi": [None] * len(cols),
                    "paper": [None] * len(cols),
                }
            )
    return out


def _pct(value: float | None, col: Column) -> float | None:
    return None if value is None or value != value else 100.0 * float(value) / col.max_value


def _gap(high: float | None, low: float | None) -> float:
    """An error bar's length, 0 where an end is missing or the interval misses the value.

    >>> _gap(80.0, 75.0), _gap(None, 75.0), _gap(70.0, 75.0)
    (5.0, 0.0, 0.0)
    """
    return max(0.0, high - low) if high is not None and low is not None else 0.0


def plot_table(table: Table, out: str | Path, n_resamples: int = 1000, seed: int = 0) -> Path:
    Figure = _figure_class()
    data = series(table, n_resamples, seed)
    keep = [j for j in range(len(table.columns)) if any(s["values"][j] is not None for s in data)]
    if not keep:
        raise HarnessError("nothing to plot: no run has a score")
    cols = [table.columns[j] for j in keep]
    n_series = len(data)
    width = 0.8 / n_series
    width_in = min(16.0, max(7.0, 1.5 + 1.1 * len(cols) * max(1.0, n_series / 4)))
    fig = Figure(figsize=(width_in, 5.6), layout="constrained")
    ax = fig.add_subplot()
    paper_drawn = False
    for i, s in enumerate(data):
        xs = [k + (i - (n_series - 1) / 2) * width for k in range(len(cols))]
        vals = [s["values"][j] for j in keep]
        heights = [v if v is not None else 0.0 for v in vals]
        # an interval need not contain the value (a percentile bootstrap of a skewed metric):
        # clip at 0
        err = [
            [_gap(v, s["lo"][j]) for v, j in zip(vals, keep)],
            [_gap(s["hi"][j], v) for v, j in zip(vals, keep)],
        ]
        has_err = any(e > 0 for e in err[0] + err[1])
        ax.bar(
            xs,
            heights,
            width * 0.92,
            label=s["label"],
            yerr=err if has_err else None,
            capsize=2.5,
            error_kw={"elinewidth": 1, "ecolor": "0.2"},
            color=f"C{i % 10}",
        )
        marks = [(x, s["paper"][j]) for x, j in zip(xs, keep) if s["paper"][j] is not None]
        if marks:
            ax.scatter(
                [m[0] for m in marks],
                [m[1] for m in marks],
                marker="D",
                s=22,
                color="black",
                zorder=3,
                label=None if paper_drawn else "paper (same encoder family)",
            )
            paper_drawn = True
    ax.set_xticks(range(len(cols)), [f"{c.label}\n({c.units})" for c in cols], fontsize=8)
    ax.set_ylabel("score (% of the benchmark's maximum)")
    ax.set_xlabel("benchmark (table metric and units)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.set_title(
        "Scores by benchmark, error bars: 95% bootstrap interval"
        if table.runs
        else f"The paper's scores: {SOURCE}",
        fontsize=10,
    )
    handles, labels = ax.get_legend_handles_labels()
    # the paper marker last
    order = sorted(range(len(labels)), key=lambda k: labels[k].startswith("paper ("))
    fig.legend(
        [handles[k] for k in order],
        [labels[k] for k in order],
        loc="outside lower center",
        ncols=min(len(labels), max(2, int(width_in / 2.3))),
        fontsize=8,
        frameon=False,
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out
