"""``python -m harness.report``: tables, detailed tables, paired comparisons, plots.

    python -m harness.report RUN_DIR... [--format md|latex|csv|html|text] [--out FILE]
                             [--paper] [--detailed] [--plot FILE.png] [--add-ci]
    python -m harness.report --compare RUN_A RUN_B [--format ...]

The same through Hydra-style overrides (every argument ``key=value``)::

    python -m harness.report 'runs=[runs/x,results/paper]' format=latex out=table.tex detailed=true
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.errors import HarnessError

FORMATS = ("md", "latex", "csv", "html", "text")
_EXT = {
    ".md": "md",
    ".tex": "latex",
    ".csv": "csv",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
}
_OVERRIDE = re.compile(r"^[+~]?[A-Za-z_][\w.]*=")


@dataclass
class ReportConfig:
    """Options of one report; also the Hydra schema of the ``key=value`` form."""

    runs: list[str] = field(default_factory=list)
    format: str | None = None
    out: str | None = None
    paper: bool = False
    detailed: bool = False
    plot: str | None = None
    compare: list[str] = field(default_factory=list)
    add_ci: bool = False
    n_resamples: int = 1000
    seed: int = 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m harness.report",
        description="Paper-style tables, intervals, comparisons and plots from run folders.",
    )
    p.add_argument(
        "runs",
        nargs="*",
        metavar="RUN_DIR",
        help="run folders, grid folders (expand to their encoders) or results/paper",
    )
    p.add_argument(
        "--format", choices=FORMATS, help="output format (default: from --out's extension, else md)"
    )
    p.add_argument("--out", help="write the report to this file instead of standard output")
    p.add_argument(
        "--paper", action="store_true", help="add the paper's numbers and the difference to them"
    )
    p.add_argument("--detailed", action="store_true", help="add one detailed table per benchmark")
    p.add_argument(
        "--plot", metavar="FILE.png", help="also draw a grouped bar chart (needs matplotlib)"
    )
    p.add_argument(
        "--compare",
        nargs=2,
        metavar=("RUN_A", "RUN_B"),
        default=[],
        help="paired test of B against A per benchmark (difference, interval, p-value)",
    )
    p.add_argument(
        "--add-ci",
        action="store_true",
        help="write missing bootstrap intervals (ci95) into each run's scores.json",
    )
    p.add_argument(
        "--n-resamples", type=int, default=1000, help="bootstrap resamples (default 1000)"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    return p


def from_overrides(argv: list[str]) -> ReportConfig:
    """Compose a ReportConfig from Hydra overrides (``runs=[a,b] format=latex``)."""
    from hydra import compose, initialize
    from hydra.core.config_store import ConfigStore
    from hydra.errors import HydraException
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    ConfigStore.instance().store(name="harness_report", node=ReportConfig)
    try:
        with initialize(version_base="1.3", config_path=None):
            cfg = compose(config_name="harness_report", overrides=argv)
    except (HydraException, OmegaConfBaseException) as exc:
        raise HarnessError(f"bad report override: {str(exc).splitlines()[0]}") from None
    fields = cast("dict[str, Any]", OmegaConf.to_container(cfg))  # a DictConfig: a dict
    return ReportConfig(**fields)


def run(cfg: ReportConfig) -> str:
    """Carry out one report; returns what was printed (tests read it)."""
    fmt = cfg.format or (_EXT.get(Path(cfg.out).suffix.lower(), "md") if cfg.out else "md")
    if fmt not in FORMATS:
        raise HarnessError(f"unknown format {fmt!r}; valid: {', '.join(FORMATS)}")
    if cfg.compare:
        if cfg.runs:
            raise HarnessError(
                "give either run folders for a table or --compare RUN_A RUN_B, not both"
            )
        if len(cfg.compare) != 2:
            raise HarnessError(f"compare needs two run folders, got {len(cfg.compare)}")
        from harness.report.compare import build_compare

        a_dir, b_dir = cfg.compare
        text = build_compare(a_dir, b_dir, n_resamples=cfg.n_resamples, seed=cfg.seed).render(fmt)
        return _emit(text, cfg, fmt)
    if not cfg.runs:
        raise HarnessError("name at least one run folder (or results/paper), or use --compare A B")
    if cfg.add_ci:
        _add_ci(cfg)
    from harness.report.table import build_table

    table = build_table([Path(r) for r in cfg.runs], paper=cfg.paper)
    text = table.render(fmt)
    if cfg.detailed:
        from harness.report.detail import build_detailed

        detailed = build_detailed(
            [Path(r) for r in cfg.runs], paper=cfg.paper, n_resamples=cfg.n_resamples, seed=cfg.seed
        )
        text += ("\n" if fmt in ("latex", "html") else "\n\n") + detailed.render(fmt)
    if cfg.plot:
        from harness.report.plot import plot_table

        plot_table(table, cfg.plot, n_resamples=cfg.n_resamples, seed=cfg.seed)
    return _emit(text, cfg, fmt)


def _emit(text: str, cfg: ReportConfig, fmt: str) -> str:
    if cfg.out:
        out = Path(cfg.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "html":
            text = (
                '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
                "<title>UNIT harness report</title>"
                "</head><body>\n" + text + "</body></html>\n"
            )
        out.write_text(text, encoding="utf-8")
        return f"wrote {out}\n" + (f"wrote {cfg.plot}\n" if cfg.plot else "")
    return text + (f"wrote {cfg.plot}\n" if cfg.plot else "")


def _add_ci(cfg: ReportConfig) -> None:
    """Store bootstrap intervals in each run's scores.json where missing (backfill for old runs)."""
    from harness.report.runs import load_sources

    runs, _ = load_sources(cfg.runs)
    for run in runs:
        changed = False
        for task in run.tasks:
            if "ci95" in run.scores[task]:
                continue
            ci = run.ci(task, n_resamples=cfg.n_resamples, seed=cfg.seed)
            if ci is not None:
                run.scores[task]["ci95"] = [ci[0], ci[1]]
                changed = True
        if changed:
            (run.path / "scores.json").write_text(
                json.dumps(run.scores, indent=2) + "\n", encoding="utf-8"
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv and all(_OVERRIDE.match(a) for a in argv):
            cfg = from_overrides(argv)
        else:
            args = parser().parse_args(argv)
            cfg = ReportConfig(**vars(args))
        sys.stdout.write(run(cfg))
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
