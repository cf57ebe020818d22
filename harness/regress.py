"""Score regression gate for CI.

    python -m harness.regress --baseline FILE_OR_DIR --current RUN_DIR [--tolerance 0.5]
                              [--per-task-tolerance TASK=X ...] [--ci]
    python -m harness.regress --write-baseline RUN_DIR --out results/baselines/NAME.json

Exit 0: no benchmark dropped by more than its tolerance (table units, absolute; ``--ci``: the
lower half of the baseline's 95% bootstrap interval). Exit 1: a table of the regressions
(a score drop, or more failed samples than the baseline). Exit 2: unusable input (a missing
file, runs or tasks that differ, a different sample count, a changed metric), one line.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

from harness.errors import HarnessError
from harness.report import baseline as bl
from harness.report.columns import column, ordered
from harness.report.render import Block, Cell, Doc

EPS = 1e-9


@dataclass
class Finding:
    run: str
    task: str
    base: float
    cur: float
    allowed: float
    failed: tuple[int, int]

    @property
    def change(self) -> float:
        return self.cur - self.base

    @property
    def regressed(self) -> bool:
        """A drop beyond tolerance, more failed samples, or no score at all (every sample failed)."""
        return math.isnan(self.cur) or -self.change > self.allowed + EPS or self.failed[1] > self.failed[0]

    @property
    def improved(self) -> bool:
        return self.change > self.allowed + EPS


def _same_keys(what: str, base: dict, cur: dict, where: str) -> None:
    missing, extra = [k for k in base if k not in cur], [k for k in cur if k not in base]
    if missing or extra:
        parts = ([f"missing from current: {', '.join(missing)}"] if missing else []) + \
                ([f"not in the baseline: {', '.join(extra)}"] if extra else [])
        raise HarnessError(f"{what} differ{where} ({'; '.join(parts)}); rerun the same grid or "
                           f"rewrite the baseline with --write-baseline")


def compare(base: dict, cur: dict, tolerance: float = 0.5, per_task: dict[str, float] | None = None,
            use_ci: bool = False) -> list[Finding]:
    """Check every (run, task) of the baseline against the current scores; raise HarnessError on
    input that cannot be compared (the exit-2 cases)."""
    per_task = per_task or {}
    _same_keys("runs", base["runs"], cur["runs"], "")
    known = {t for r in base["runs"].values() for t in r["tasks"]}
    unknown = [t for t in per_task if t not in known]
    if unknown:
        raise HarnessError(f"--per-task-tolerance names task(s) not in the baseline: {', '.join(unknown)}")
    findings = []
    for key, brun in base["runs"].items():
        crun = cur["runs"][key]
        _same_keys("tasks", brun["tasks"], crun["tasks"], f" for run {key}")
        for task in ordered(brun["tasks"]):
            b, c = brun["tasks"][task], crun["tasks"][task]
            _check_comparable(key, task, b, c)
            allowed = per_task.get(task, tolerance)
            if use_ci and task not in per_task:
                if not isinstance(b.get("ci95"), list):
                    raise HarnessError(f"--ci: the baseline has no ci95 for {key}/{task}; write the baseline "
                                       f"from a run folder with predictions, or drop --ci")
                allowed = max(0.0, float(b["value"]) - float(b["ci95"][0]))
            now = math.nan if c.get("value") is None else float(c["value"])
            findings.append(Finding(key, task, float(b["value"]), now, allowed,
                                    (int(b.get("failed", 0)), int(c.get("failed", 0)))))
    return findings


def _check_comparable(run: str, task: str, b: dict, c: dict) -> None:
    total_b = int(b.get("n", 0)) + int(b.get("failed", 0))
    total_c = int(c.get("n", 0)) + int(c.get("failed", 0))
    if total_b != total_c:
        raise HarnessError(f"{run}/{task}: {total_c} samples in the current run but {total_b} in the baseline "
                           f"(different data or limit); rerun with the baseline's settings or rewrite the baseline")
    if b.get("metric") and c.get("metric") and b["metric"] != c["metric"]:
        raise HarnessError(f"{run}/{task}: metric {c['metric']!r} in the current run but {b['metric']!r} "
                           f"in the baseline; rewrite the baseline")


def findings_doc(findings: list[Finding], title: str) -> Doc:
    rows = []
    for f in findings:
        col = column(f.task)
        why = ("no score" if math.isnan(f.cur) else
               "more failed samples" if f.failed[1] > f.failed[0] and -f.change <= f.allowed + EPS else "")
        rows.append([Cell(f.run), Cell(col.label), Cell(f"{f.base:.2f}"), Cell(_fmt(f.cur)),
                     Cell(_fmt(f.change, "+")), Cell(f"{f.allowed:.2f}"), Cell(f"{f.failed[0]} → {f.failed[1]}"),
                     Cell(why)])
    return Doc(header=["Run", "Benchmark", "Baseline", "Current", "Change", "Allowed drop", "Failed", "Note"],
               keys=["run", "task", "baseline", "current", "change", "allowed", "failed", "note"],
               blocks=[Block(rows)], caption=title)


def _fmt(x: float, sign: str = "") -> str:
    return "—" if math.isnan(x) else f"{x:{sign}.2f}"


def _per_task(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        task, sep, value = item.partition("=")
        try:
            out[task.strip()] = float(value)
        except ValueError:
            raise HarnessError(f"--per-task-tolerance expects TASK=NUMBER, got {item!r}") from None
        if not sep or not task.strip() or out[task.strip()] < 0:
            raise HarnessError(f"--per-task-tolerance expects TASK=NUMBER (>= 0), got {item!r}")
    return out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harness.regress", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", help="baseline file (JSON), or a run/grid folder used as the baseline")
    p.add_argument("--current", help="the run or grid folder to check")
    p.add_argument("--tolerance", type=float, default=0.5, help="allowed drop in table units (default 0.5)")
    p.add_argument("--per-task-tolerance", nargs="+", default=[], metavar="TASK=X",
                   help="allowed drop for one task, e.g. ocrbench=5 mme=10")
    p.add_argument("--ci", action="store_true",
                   help="allow each task to drop by the lower half of the baseline's 95%% bootstrap interval")
    p.add_argument("--write-baseline", metavar="RUN_DIR", help="write a baseline file from a run or grid folder")
    p.add_argument("--out", help="with --write-baseline: the baseline file to write")
    p.add_argument("--n-resamples", type=int, default=1000, help="bootstrap resamples for --write-baseline")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed for --write-baseline")
    return p


def run(args: argparse.Namespace) -> int:
    if args.write_baseline:
        if not args.out:
            raise HarnessError("--write-baseline needs --out FILE")
        data = bl.from_dir(args.write_baseline, with_ci=True, n_resamples=args.n_resamples, seed=args.seed)
        path = bl.write(data, args.out)
        n_tasks = sum(len(r["tasks"]) for r in data["runs"].values())
        print(f"wrote {path}: {len(data['runs'])} run(s), {n_tasks} task score(s)")
        return 0
    if not args.baseline or not args.current:
        raise HarnessError("give --baseline FILE_OR_DIR and --current RUN_DIR (or --write-baseline RUN_DIR --out FILE)")
    if args.tolerance < 0:
        raise HarnessError(f"--tolerance must be >= 0, got {args.tolerance}")
    per_task = _per_task(args.per_task_tolerance)
    base = bl.load(args.baseline, with_ci=args.ci)
    cur = bl.from_dir(args.current, with_ci=False)
    findings = compare(base, cur, args.tolerance, per_task, args.ci)
    bad = [f for f in findings if f.regressed]
    if bad:
        print(findings_doc(bad, f"REGRESSION: {len(bad)} of {len(findings)} benchmark score(s) "
                                f"fell beyond tolerance ({args.current} vs {args.baseline})").to_text(), end="")
        return 1
    print(f"ok: {len(findings)} benchmark score(s) within tolerance ({args.current} vs {args.baseline})")
    better = [f for f in findings if f.improved]
    if better:
        print(findings_doc(better, f"note: {len(better)} score(s) improved beyond tolerance; "
                                   f"consider rewriting the baseline").to_text(), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
