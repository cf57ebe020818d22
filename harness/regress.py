"""Score and prediction regression gate for CI.

    python -m harness.regress --baseline FILE_OR_DIR --current RUN_DIR [--tolerance 0.5]
                              [--per-task-tolerance TASK=X ...] [--ci] [--scores-only]
    python -m harness.regress --write-baseline RUN_DIR --out results/baselines/NAME.json

Exit 0: no benchmark dropped by more than its tolerance (table units, absolute; ``--ci``: the
lower half of the baseline's 95% bootstrap interval) and every sample's prediction is the
baseline's. Exit 1: a table of the regressions (a score drop, or more failed samples than the
baseline). Exit 2: unusable input (a missing file, runs or tasks that differ, a different
sample count, a changed metric), one line. Exit 3: scores within tolerance, but predictions
changed: a table of the tasks and how many samples (``--scores-only`` skips this check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report import baseline as bl
from harness.report.columns import column, ordered
from harness.report.render import Block, Cell, Doc
from harness.report.runs import load_sources

EPS = 1e-9
EXIT_OK, EXIT_REGRESSED, EXIT_INPUT, EXIT_PREDICTIONS = 0, 1, 2, 3
SAMPLE_HASH_CHARS = 12  # per-sample prediction hash kept in a baseline (hex characters)


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
        """A drop beyond tolerance, more failed samples, or no score at all (every sample
        failed)."""
        dropped = -self.change > self.allowed + EPS
        return math.isnan(self.cur) or dropped or self.failed[1] > self.failed[0]

    @property
    def improved(self) -> bool:
        return self.change > self.allowed + EPS


def sample_hash(prediction: str | None) -> str:
    """A short hash of one sample's prediction (a failed sample's is the hash of ``null``).

    >>> sample_hash("yes")
    '6c76a9331e7f'
    >>> sample_hash(None) != sample_hash("")
    True
    """
    text = json.dumps(prediction, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:SAMPLE_HASH_CHARS]


def predictions_digest(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The baseline's ``predictions`` entry of one task: a sha256 over the sorted (id, prediction)
    pairs, the sample count, and each sample's short hash by id.

    >>> d = predictions_digest([{"id": "2", "prediction": "no"}, {"id": "1", "prediction": "yes"}])
    >>> d["count"], list(d["samples"]), d["samples"]["1"] == sample_hash("yes")
    (2, ['1', '2'], True)
    >>> d["sha256"] == predictions_digest(reversed([{"id": "2", "prediction": "no"},
    ...                                             {"id": "1", "prediction": "yes"}]))["sha256"]
    True
    """
    pairs = sorted((str(r["id"]), r.get("prediction")) for r in records)
    whole = hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode("utf-8")).hexdigest()
    return {"sha256": whole, "count": len(pairs), "samples": {i: sample_hash(p) for i, p in pairs}}


def changed_samples(base: Mapping[str, Any], cur: Mapping[str, Any]) -> int | None:
    """How many of the baseline's samples have another prediction now (a sample missing from
    the current run counts as changed); None when the baseline keeps no per-sample hashes
    and only the whole digest can say "changed" (then -1 means it did).

    >>> a = predictions_digest([{"id": "1", "prediction": "yes"}, {"id": "2", "prediction": "no"}])
    >>> b = predictions_digest([{"id": "1", "prediction": "yes"}, {"id": "2", "prediction": "yes"}])
    >>> changed_samples(a, a), changed_samples(a, b)
    (0, 1)
    >>> changed_samples({"sha256": a["sha256"]}, b)
    -1
    """
    if base.get("sha256") and base.get("sha256") == cur.get("sha256"):
        return 0
    samples, now = base.get("samples"), cur.get("samples") or {}
    if not isinstance(samples, Mapping):
        return -1 if base.get("sha256") else None
    return sum(1 for i, h in samples.items() if now.get(i) != h)


def attach_predictions(data: dict[str, Any], source: str) -> dict[str, Any]:
    """Add each (run, task)'s ``predictions`` digest, read from the run folders under
    ``source``, to a baseline dict built from that folder (tasks without predictions: none)."""
    runs, _ = load_sources([source])
    for run in runs:
        entry = data["runs"].get(run.key)
        for task, scores in (entry or {}).get("tasks", {}).items():
            if (run.path / "predictions" / f"{task}.jsonl").is_file():
                scores["predictions"] = predictions_digest(run.records(task))
    return data


@dataclass
class Changed:
    run: str
    task: str
    samples: int  # samples whose prediction changed; -1: the digest differs, count unknown
    total: int


def compare_predictions(base: dict[str, Any], cur: dict[str, Any]) -> tuple[list[Changed], int]:
    """Tasks whose predictions differ from the baseline's, and how many (run, task) pairs were
    checked (those whose baseline keeps a predictions digest)."""
    changed, checked = [], 0
    for key, brun in base["runs"].items():
        for task in ordered(brun["tasks"]):
            b = brun["tasks"][task].get("predictions")
            c = cur["runs"].get(key, {}).get("tasks", {}).get(task, {}).get("predictions")
            if not isinstance(b, Mapping):
                continue
            checked += 1
            n = changed_samples(b, c or {})
            if n:
                changed.append(Changed(key, task, int(n), int(b.get("count") or 0)))
    return changed, checked


def changed_doc(changed: list[Changed], title: str) -> Doc:
    rows = [
        [
            Cell(c.run),
            Cell(column(c.task).label),
            Cell("?" if c.samples < 0 else str(c.samples)),
            Cell(str(c.total)),
        ]
        for c in changed
    ]
    return Doc(
        header=["Run", "Benchmark", "Changed predictions", "Samples"],
        keys=["run", "task", "changed", "samples"],
        blocks=[Block(rows)],
        caption=title,
    )


def scores_from_frame(df: Any) -> dict[str, Any]:
    """The gate's view of a results frame (:func:`harness.results.load_runs`, headline rows):
    ``{"runs": {encoder: {"tasks": {task: {metric, value, n, failed, ci95}}}}}``."""
    import pandas as pd

    runs: dict[str, Any] = {}
    for row in df[df["source"] != "paper"].itertuples(index=False):
        entry: dict[str, Any] = {
            "metric": row.metric,
            "value": None if pd.isna(row.value) else float(row.value),
            "n": 0 if pd.isna(row.n) else int(row.n),
            "failed": 0 if pd.isna(row.failed) else int(row.failed),
        }
        if not pd.isna(row.ci_low) and not pd.isna(row.ci_high):
            entry["ci95"] = [float(row.ci_low), float(row.ci_high)]
        runs.setdefault(str(row.encoder), {"tasks": {}})["tasks"][str(row.task)] = entry
    return {"runs": runs}


def _same_keys(what: str, base: dict[str, Any], cur: dict[str, Any], where: str) -> None:
    missing, extra = [k for k in base if k not in cur], [k for k in cur if k not in base]
    if missing or extra:
        parts = ([f"missing from current: {', '.join(missing)}"] if missing else []) + (
            [f"not in the baseline: {', '.join(extra)}"] if extra else []
        )
        raise HarnessError(
            f"{what} differ{where} ({'; '.join(parts)}); rerun the same grid or "
            f"rewrite the baseline with --write-baseline"
        )


def compare(
    base: dict[str, Any],
    cur: dict[str, Any],
    tolerance: float = 0.5,
    per_task: dict[str, float] | None = None,
    use_ci: bool = False,
) -> list[Finding]:
    """Check every (run, task) of the baseline against the current scores; raise HarnessError on
    input that cannot be compared (the exit-2 cases)."""
    per_task = per_task or {}
    _same_keys("runs", base["runs"], cur["runs"], "")
    known = {t for r in base["runs"].values() for t in r["tasks"]}
    unknown = [t for t in per_task if t not in known]
    if unknown:
        raise HarnessError(
            f"--per-task-tolerance names task(s) not in the baseline: {', '.join(unknown)}"
        )
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
                    raise HarnessError(
                        f"--ci: the baseline has no ci95 for {key}/{task}; write "
                        "the baseline from a run folder with predictions, or drop "
                        "--ci"
                    )
                allowed = max(0.0, float(b["value"]) - float(b["ci95"][0]))
            now = math.nan if c.get("value") is None else float(c["value"])
            findings.append(
                Finding(
                    key,
                    task,
                    float(b["value"]),
                    now,
                    allowed,
                    (int(b.get("failed", 0)), int(c.get("failed", 0))),
                )
            )
    return findings


def _check_comparable(run: str, task: str, b: dict[str, Any], c: dict[str, Any]) -> None:
    total_b = int(b.get("n", 0)) + int(b.get("failed", 0))
    total_c = int(c.get("n", 0)) + int(c.get("failed", 0))
    if total_b != total_c:
        raise HarnessError(
            f"{run}/{task}: {total_c} samples in the current run but {total_b} in "
            "the baseline (different data or limit); rerun with the baseline's "
            "settings or rewrite the baseline"
        )
    if b.get("metric") and c.get("metric") and b["metric"] != c["metric"]:
        raise HarnessError(
            f"{run}/{task}: metric {c['metric']!r} in the current run but "
            f"{b['metric']!r} in the baseline; rewrite the baseline"
        )


def findings_doc(findings: list[Finding], title: str) -> Doc:
    rows = []
    for f in findings:
        col = column(f.task)
        more_failed = f.failed[1] > f.failed[0] and -f.change <= f.allowed + EPS
        why = "no score" if math.isnan(f.cur) else "more failed samples" if more_failed else ""
        rows.append(
            [
                Cell(f.run),
                Cell(col.label),
                Cell(f"{f.base:.2f}"),
                Cell(_fmt(f.cur)),
                Cell(_fmt(f.change, "+")),
                Cell(f"{f.allowed:.2f}"),
                Cell(f"{f.failed[0]} → {f.failed[1]}"),
                Cell(why),
            ]
        )
    header = ["Run", "Benchmark", "Baseline", "Current", "Change", "Allowed drop", "Failed", "Note"]
    return Doc(
        header=header,
        keys=["run", "task", "baseline", "current", "change", "allowed", "failed", "note"],
        blocks=[Block(rows)],
        caption=title,
    )


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
    p = argparse.ArgumentParser(
        prog="python -m harness.regress",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--baseline", help="baseline file (JSON), or a run/grid folder used as the baseline"
    )
    p.add_argument("--current", help="the run or grid folder to check")
    p.add_argument(
        "--tolerance", type=float, default=0.5, help="allowed drop in table units (default 0.5)"
    )
    p.add_argument(
        "--per-task-tolerance",
        nargs="+",
        default=[],
        metavar="TASK=X",
        help="allowed drop for one task, e.g. ocrbench=5 mme=10",
    )
    p.add_argument(
        "--ci",
        action="store_true",
        help="allow each task to drop by the lower half of the baseline's 95%% bootstrap interval",
    )
    p.add_argument(
        "--scores-only",
        action="store_true",
        help="compare scores only, not the per-sample predictions (non-deterministic runs)",
    )
    p.add_argument(
        "--write-baseline",
        metavar="RUN_DIR",
        help="write a baseline file from a run or grid folder",
    )
    p.add_argument("--out", help="with --write-baseline: the baseline file to write")
    p.add_argument(
        "--n-resamples", type=int, default=1000, help="bootstrap resamples for --write-baseline"
    )
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed for --write-baseline")
    return p


def run(args: argparse.Namespace) -> int:
    if args.write_baseline:
        if not args.out:
            raise HarnessError("--write-baseline needs --out FILE")
        data = bl.from_dir(
            args.write_baseline, with_ci=True, n_resamples=args.n_resamples, seed=args.seed
        )
        path = bl.write(attach_predictions(data, args.write_baseline), args.out)
        n_tasks = sum(len(r["tasks"]) for r in data["runs"].values())
        print(f"wrote {path}: {len(data['runs'])} run(s), {n_tasks} task score(s)")
        return EXIT_OK
    if not args.baseline or not args.current:
        raise HarnessError(
            "give --baseline FILE_OR_DIR and --current RUN_DIR "
            "(or --write-baseline RUN_DIR --out FILE)"
        )
    if args.tolerance < 0:
        raise HarnessError(f"--tolerance must be >= 0, got {args.tolerance}")
    per_task = _per_task(args.per_task_tolerance)
    from harness.results import load_runs

    base = bl.load(args.baseline, with_ci=False)  # checks the file; carries the digests
    if Path(args.baseline).is_dir():  # a folder as the baseline: its predictions too
        attach_predictions(base, args.baseline)
    cur = attach_predictions(bl.from_dir(args.current, with_ci=False), args.current)
    # the scores compared are the results frame's, as the table and the plots read them
    ci = "bootstrap" if args.ci and Path(args.baseline).is_dir() else "stored"
    base_scores = scores_from_frame(load_runs([args.baseline], ci=ci))
    cur_scores = scores_from_frame(load_runs([args.current], ci="none"))
    findings = compare(base_scores, cur_scores, args.tolerance, per_task, args.ci)
    changed, checked = ([], 0) if args.scores_only else compare_predictions(base, cur)
    where = f"({args.current} vs {args.baseline})"
    bad = [f for f in findings if f.regressed]
    if bad:
        print(
            findings_doc(
                bad,
                f"REGRESSION: {len(bad)} of {len(findings)} benchmark score(s) "
                f"fell beyond tolerance {where}",
            ).to_text(),
            end="",
        )
    if changed:
        print(
            changed_doc(
                changed, f"PREDICTIONS CHANGED in {len(changed)} of {checked} task(s) {where}"
            ).to_text(),
            end="",
        )
    if bad:
        return EXIT_REGRESSED
    if changed:
        print(
            "scores are within tolerance; if the change is intended, rewrite the baseline "
            "(--write-baseline), else find what moved the answers"
        )
        return EXIT_PREDICTIONS
    note = (
        ""
        if args.scores_only
        else (
            f"; predictions identical in {checked} task(s)"
            if checked
            else "; the baseline has no prediction digests (scores only)"
        )
    )
    print(f"ok: {len(findings)} benchmark score(s) within tolerance{note} {where}")
    better = [f for f in findings if f.improved]
    if better:
        print(
            findings_doc(
                better,
                f"note: {len(better)} score(s) improved beyond tolerance; "
                f"consider rewriting the baseline",
            ).to_text(),
            end="",
        )
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return run(args)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT


if __name__ == "__main__":
    sys.exit(main())
