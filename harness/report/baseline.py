"""The score baseline file read and written by ``python -m harness.regress``.

Format (JSON; documented in ``results/baselines/README.md``)::

    {"format": "unit-harness-baseline", "format_version": 1,
     "source": "<folder it was written from>", "git_commit": "<meta.json git_commit>",
     "runs": {"<encoder name>": {"label": str, "family": str|null, "model": str|null,
              "tasks": {"<task>": {"metric": str, "value": float, "n": int, "failed": int,
                                   "max_value": float, "version": str, "protocol": str,
                                   "ci95": [lo, hi]}}}}}

``ci95`` is there only when predictions were there to bootstrap. Runs are keyed by the encoder
name (``meta.json`` encoder.name, else the folder name), tasks by task name; values are in the
table's units.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report.columns import ordered
from harness.report.runs import Run, load_sources

FORMAT = "unit-harness-baseline"
FORMAT_VERSION = 1
_TASK_FIELDS = ("metric", "value", "n", "failed", "max_value", "version", "protocol")


def from_runs(
    runs: list[Run], source: str, with_ci: bool = True, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """A baseline dict from loaded runs; ``with_ci`` bootstraps intervals not stored in
    scores.json."""
    out: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "source": source,
        "git_commit": next(
            (r.meta.get("git_commit") for r in runs if r.meta.get("git_commit")), None
        ),
        "runs": {},
    }
    seen: dict[str, Path] = {}
    for run in runs:
        if run.key in seen:
            raise HarnessError(
                f"{source}: two runs share the encoder name {run.key!r} "
                f"({seen[run.key]} and {run.path})"
            )
        seen[run.key] = run.path
        tasks = {}
        for task in ordered(run.tasks):
            entry = {k: run.scores[task][k] for k in _TASK_FIELDS if k in run.scores[task]}
            ci = run.ci(task, compute=with_ci, n_resamples=n_resamples, seed=seed)
            if ci is not None:
                entry["ci95"] = [round(ci[0], 6), round(ci[1], 6)]
            tasks[task] = entry
        out["runs"][run.key] = {
            "label": run.label,
            "family": run.family,
            "model": run.model,
            "tasks": tasks,
        }
    return out


def from_dir(
    path: str | Path, with_ci: bool = True, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Any]:
    runs, paper = load_sources([path])
    if paper is not None:
        raise HarnessError(f"{path}: a paper folder is not a run folder")
    return from_runs(runs, str(path), with_ci=with_ci, n_resamples=n_resamples, seed=seed)


def write(baseline: dict[str, Any], out: str | Path) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(baseline, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def read(path: str | Path) -> dict[str, Any]:
    """A baseline file, validated; every problem is a one-line HarnessError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise HarnessError(f"baseline file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise HarnessError(
            f'{path}: not a baseline file (expected "format": "{FORMAT}"; '
            f"write one with python -m harness.regress --write-baseline RUN_DIR --out FILE)"
        )
    if data.get("format_version") != FORMAT_VERSION:
        raise HarnessError(
            f"{path}: baseline format_version {data.get('format_version')!r} is not supported "
            f"(this harness reads {FORMAT_VERSION})"
        )
    runs = data.get("runs")
    if not isinstance(runs, dict) or not runs:
        raise HarnessError(f"{path}: baseline has no runs")
    for key, run in runs.items():
        tasks = run.get("tasks") if isinstance(run, dict) else None
        if not isinstance(tasks, dict) or not tasks:
            raise HarnessError(f"{path}: run {key!r} has no tasks")
        for task, entry in tasks.items():
            if not isinstance(entry, dict) or not isinstance(entry.get("value"), (int, float)):
                raise HarnessError(f"{path}: run {key!r} task {task!r} has no numeric 'value'")
    return data


def load(path: str | Path, with_ci: bool = False) -> dict[str, Any]:
    """A baseline from a baseline file, or built on the fly from a run or grid folder."""
    p = Path(path)
    if p.is_dir():
        return from_dir(p, with_ci=with_ci)
    return read(p)
