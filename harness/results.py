"""The run folder: scores.json, meta.json, config.yaml (predictions are the engine's).

Writing: :class:`RunWriter` and :func:`task_scores`. Reading: :func:`load_runs` (defined in
``harness.report.frame``), every result under some run, grid or paper folders or baseline
files as one tidy pandas DataFrame.

scores.json and meta.json are rewritten (atomically) after every task, so a run that dies
later keeps every finished task's scores.

meta.json reports the run honestly: the settings in effect (``settings``), the model's counters
(``counters``), and wall-clock phases measured from the process start (``timing``: start-up,
config and data, model load, engine, scoring, writing), with samples/s end to end and in the
engine, each labelled. pandas (behind :func:`load_runs`) is imported only when read.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

import harness
from harness.device import DeviceSpec
from harness.engine.files import atomic_write_text, is_write_fault, write_error, write_json
from harness.errors import HarnessError
from harness.fingerprint import dir_fingerprint, obj_fingerprint
from harness.jsonl import Records
from harness.tasks.base import Task

if TYPE_CHECKING:
    from harness.engine.core import TaskResult
    from harness.models.base import Model
    from harness.report.frame import COLUMNS, load_runs

_IMPORTED = time.time()  # the fallback process start: when the harness was imported


def __getattr__(name: str) -> Any:
    """``COLUMNS`` and ``load_runs`` (harness.report.frame, pandas) on first use."""
    if name in ("COLUMNS", "load_runs"):
        from harness.report import frame

        value = getattr(frame, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


log = logging.getLogger("harness")

__all__ = ["COLUMNS", "RunWriter", "load_runs", "task_scores"]

PACKAGES = (
    "torch",
    "torch_npu",
    "transformers",
    "timm",
    "tokenizers",
    "datasets",
    "safetensors",
    "hydra-core",
    "omegaconf",
    "pillow",
    "numpy",
    "pandas",
)


def process_start() -> tuple[float, str]:
    """When this process started (epoch seconds) and how that is known: ``/proc/self/stat``
    (Linux: the kernel's start time, 10 ms ticks) or, elsewhere, ``harness import`` (the time
    this module was imported, later than the true start by the interpreter's own start-up).

    >>> start, source = process_start()
    >>> source in ("/proc/self/stat", "harness import") and start <= time.time()
    True
    """
    try:
        stat = Path("/proc/self/stat").read_text(encoding="ascii", errors="replace")
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime (after comm)
        started_since_boot = ticks / os.sysconf("SC_CLK_TCK")
        now_since_boot = time.clock_gettime(time.CLOCK_BOOTTIME)
        start = time.time() - (now_since_boot - started_since_boot)
    except (OSError, ValueError, IndexError, AttributeError):
        return _IMPORTED, "harness import"
    if not start <= _IMPORTED + 0.02:  # a clock that disagrees (another time namespace)
        return _IMPORTED, "harness import"
    return start, "/proc/self/stat"


class RunClock:
    """Wall-clock phases of one invocation, from its origin (the process start on the command
    line, the ``run()`` call in-process). Phases are consecutive spans; :meth:`lap` ends one.

    >>> clock = RunClock(time.time() - 1.0, "test")
    >>> clock.lap("startup") >= 1.0 and clock.elapsed() >= clock.phases["startup"]
    True
    """

    def __init__(self, origin: float, source: str) -> None:
        self.origin = origin
        self.source = source
        # the same origin on the monotonic clock (spans are measured on it)
        self._origin_perf = time.perf_counter() - (time.time() - origin)
        self._last = self._origin_perf
        self.phases: dict[str, float] = {}

    def elapsed(self) -> float:
        """Seconds since the origin."""
        return time.perf_counter() - self._origin_perf

    def lap(self, phase: str) -> float:
        """End ``phase`` now (its span is added to any earlier span of the same name)."""
        now = time.perf_counter()
        span = now - self._last
        self._last = now
        self.phases[phase] = self.phases.get(phase, 0.0) + span
        return span

    def mark(self) -> float:
        """Seconds since the last lap, without ending a phase."""
        return time.perf_counter() - self._last


def task_scores(task: Task, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The scores.json entry of one task, from its per-sample records.

    ``value`` counts the whole selection: a failed sample counts as wrong (scored as an empty
    answer, as a peer scores a sample its model did not answer). ``scored_only`` holds the
    metric over the successful samples alone, as a labelled secondary figure. A task where no
    sample succeeded has ``value`` null and an ``error``.
    """
    recs = Records.of(records)
    keep: list[int] = []
    bad: list[dict[str, Any]] = []  # failed samples are few: kept decoded
    for i, r in enumerate(recs):  # one pass; the successful ones stay as they are kept
        if r.get("failed") is None:
            keep.append(i)
        else:
            bad.append(r)
    ok = recs.take(keep)
    as_empty = [_as_answered(r) for r in bad if "score" in r]  # failures scored as an empty answer
    unscorable = len(bad) - len(as_empty)
    entry: dict[str, Any] = {
        "metric": task.metric,
        "value": None,
        "n": len(ok),
        "failed": len(bad),
        "total": len(records),
        "metrics": {},
        "protocol": task.protocol,
        "version": task.version,
        "label": task.label,
        "max_value": task.max_value,
        "warnings": list(task.warnings),
    }
    if not ok:
        reason = str(bad[0]["failed"]) if bad else "the selection is empty"
        entry["error"] = f"no sample succeeded ({len(bad)} of {len(records)} failed; e.g. {reason})"
        return entry
    counted = ok + as_empty
    metrics = task.aggregate(counted)
    entry["value"] = _num(metrics.get(task.metric, float("nan")))
    if unscorable and entry["value"] is not None:  # no empty-answer fields: scaled as score 0
        entry["value"] *= len(counted) / len(records)
    entry["metrics"] = metrics
    if bad:
        reasons = sorted({str(r["failed"]) for r in bad})
        how = (
            "counted as wrong (scored as empty answers)"
            if not unscorable
            else (
                f"counted as wrong ({unscorable} unscorable, counted by scaling the metric by the "
                f"scored share)"
            )
        )
        entry["warnings"].append(f"{len(bad)} failed sample(s) {how}; e.g. {reasons[0]}")
        scored = task.aggregate(ok)
        entry["scored_only"] = {
            "value": _num(scored.get(task.metric, float("nan"))),
            "n": len(ok),
            "metrics": scored,
            "note": "metric over the successful samples only",
        }
    ci = _ci(task, counted)
    if ci is not None:
        entry["ci95"] = ci
    return entry


def _as_answered(record: dict[str, Any]) -> dict[str, Any]:
    """A failed record scored as an empty answer, as the metric and the bootstrap read it."""
    out = {k: v for k, v in record.items() if k != "failed"}
    return out | {"prediction": ""}


def _ci(task: Task, records: Sequence[dict[str, Any]]) -> list[float | None] | None:
    try:
        from harness.report.stats import bootstrap_ci
    except ImportError:
        return None
    return [_num(x) for x in bootstrap_ci(task, records)]


def _num(x: Any) -> float | None:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {
        "python": platform.python_version(),
        "harness": harness.__version__,
    }
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    """The harness source's git commit (with ``-dirty`` for local changes), if it is a checkout
    (one ``git status`` call gives both)."""
    src = Path(harness.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.splitlines()
    head = next((x.split()[2] for x in lines if x.startswith("# branch.oid ")), None)
    if head is None or head == "(initial)":
        return None
    dirty = any(not x.startswith("#") for x in lines)
    return head + ("-dirty" if dirty else "")


def dataset_fingerprint(task: Task) -> dict[str, Any]:
    ds = dict(task.dataset)
    path = Path(os.path.expanduser(str(ds.get("path", ""))))
    fp = {k: ds.get(k) for k in ("path", "name", "split", "format")}
    fp["fingerprint"] = (
        dir_fingerprint(path, limit=1 << 20) if path.exists() else obj_fingerprint(fp)
    )
    return fp


def _rounded(d: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


class RunWriter:
    """Accumulates one encoder's results and keeps its run folder's files current.

    A folder holding earlier results of the same model keeps them: running one task into the
    folder of a ``task=all`` run replaces that task's entry in scores.json and meta.json and
    keeps the others. Results of another model are moved to ``old/`` first (never mixed).
    """

    def __init__(self, run_dir: Path, cfg: DictConfig, encoder: dict[str, Any], device: DeviceSpec):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scores: dict[str, Any] = {}
        self.meta: dict[str, Any] = {
            "encoder": dict(encoder),
            "model": {},
            "fingerprints": {},
            "versions": versions(),
            "git_commit": git_commit(),
            "device": device.type,
            "dtype": device.dtype_name,
            "command": " ".join(sys.argv),
            "world_size": int(os.environ.get("WORLD_SIZE", 1)),
            "protocols": {},
            "datasets": {},
            "tasks": {},
            "settings": {},
            "counters": {},
            "timing": {},
            "wall_time_s": None,  # end to end: process start to results written
            "samples_per_second": None,  # end to end (timing.samples_per_s_engine: the engine's)
        }
        self._earlier = _read_json(self.dir / "scores.json"), _read_json(self.dir / "meta.json")
        self._ran: list[str] = []  # this invocation's tasks (meta.json may keep earlier ones)
        _write_text(self.dir / "config.yaml", OmegaConf.to_yaml(cfg))

    def set_model(
        self, model: Model, load_seconds: float, fingerprint: dict[str, Any] | None = None
    ) -> None:
        self.meta["model"] = model.describe() | {"load_seconds": round(load_seconds, 3)}
        self.meta["fingerprints"] = fingerprint if fingerprint is not None else model.fingerprint()
        self.meta["counters"] = _plain(model.counters())
        self._keep_earlier()

    def set_settings(self, settings: Mapping[str, Any]) -> None:
        """The settings in effect (what the run used, after ``auto`` and the model resolved)."""
        self.meta["settings"] = _plain(dict(settings))

    def _keep_earlier(self) -> None:
        scores, meta = self._earlier
        self._earlier = None, None
        if not isinstance(scores, dict) or not scores:
            return
        same = isinstance(meta, dict) and _plain(meta.get("fingerprints")) == _plain(
            self.meta["fingerprints"]
        )
        if same:
            self.scores = {**scores, **self.scores}
            for key in ("protocols", "datasets", "tasks"):
                if isinstance(meta.get(key), dict):
                    self.meta[key] = {**meta[key], **self.meta[key]}
            return
        dest = self.dir / "old"
        dest.mkdir(exist_ok=True)
        tag = obj_fingerprint(_plain(meta.get("fingerprints") if isinstance(meta, dict) else None))
        for name in ("scores.json", "meta.json"):
            if (self.dir / name).is_file():
                os.replace(self.dir / name, dest / f"{tag}.{name}")
        log.warning("%s: scores.json holds results of another model; moved to %s", self.dir, dest)

    def add_task(
        self,
        task: Task,
        scores: dict[str, Any],
        result: TaskResult,
        data_fp: dict[str, Any] | None = None,
        counters: Mapping[str, Any] | None = None,
    ) -> None:
        """Record one task; ``counters``: the model's counters after it (cumulative; the task's
        own share is the difference from the previous ones)."""
        before = dict(self.meta.get("counters") or {})
        self._ran.append(task.name)
        self.scores[task.name] = scores
        self.meta["protocols"][task.name] = {"protocol": task.protocol, "version": task.version}
        self.meta["datasets"][task.name] = (
            data_fp if data_fp is not None else dataset_fingerprint(task)
        )
        self.meta["tasks"][task.name] = {
            "n": scores["n"],
            "failed": scores["failed"],
            "seconds": round(result.seconds, 3),
            "generated": result.n_generated,
            "resumed": getattr(result, "n_resumed", 0),
            "timings": _rounded(getattr(result, "timings", {}) or {}),
        }
        if counters is not None:
            self.meta["counters"] = _plain(counters)
            self.meta["tasks"][task.name]["counters"] = _plain(counter_delta(before, counters))
        self._flush()
        OUTCOME.add(
            str(self.meta["encoder"].get("label") or self.dir.name),
            task.name,
            scores,
            self.dir / "predictions" / f"{task.name}.jsonl",
        )

    def finish(
        self,
        wall: float | None = None,
        clock: RunClock | None = None,
        phases: Mapping[str, float] | None = None,
    ) -> None:
        """Write the run's timing: ``clock`` (with this run's ``phases``) gives the end-to-end
        wall from its origin; without one, ``wall`` is taken as the end-to-end wall."""
        tasks = {name: self.meta["tasks"][name] for name in self._ran}
        total = sum(t["n"] + t["failed"] for t in tasks.values())
        e2e = clock.elapsed() if clock is not None else float(wall or 0.0)
        timing = timing_report(tasks, self.meta.get("counters") or {}, phases or {})
        timing["end_to_end_s"] = round(e2e, 3)
        timing["origin"] = clock.source if clock is not None else "runner"
        if clock is not None:
            timing["origin_epoch"] = round(clock.origin, 3)
        timing["unaccounted_s"] = round(e2e - sum(timing["phases_s"].values()), 3)
        timing["samples"] = total
        timing["samples_per_s_end_to_end"] = round(total / e2e, 3) if e2e > 0 else None
        self.meta["timing"] = timing
        self.meta["wall_time_s"] = round(e2e, 3)
        self.meta["samples_per_second"] = timing["samples_per_s_end_to_end"]
        self._flush()

    def summary(self) -> str:
        """The run's last log line: samples and rates (each labelled), phases, settings in
        effect and the model's main counters."""
        t, st = self.meta.get("timing") or {}, self.meta.get("settings") or {}
        phases = ", ".join(f"{k} {v:.2f}s" for k, v in (t.get("phases_s") or {}).items())
        sets = ", ".join(f"{k}={v}" for k, v in st.items() if not isinstance(v, dict))
        counters = self.meta.get("counters") or {}
        shown = ", ".join(
            f"{k}={_short(v)}"
            if not isinstance(v, dict)
            else f"{k}=({' '.join(f'{n}={_short(v[n])}' for n in CACHE_SHOWN if n in v)})"
            for k, v in counters.items()
        )
        return (
            f"{self.meta['encoder'].get('label') or self.dir.name}: {t.get('samples')} samples in "
            f"{t.get('end_to_end_s')}s from {t.get('origin')}: "
            f"{t.get('samples_per_s_end_to_end')} samples/s end to end, "
            f"{t.get('samples_per_s_engine')} generated/s in the engine; phases: {phases}; "
            f"settings: {sets}" + (f"; counters: {shown}" if shown else "")
        )

    def _flush(self) -> None:
        write_json(self.dir / "scores.json", self.scores)
        write_json(self.dir / "meta.json", self.meta)


def counter_delta(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The numeric counters' growth from ``before`` to ``after`` (nested dicts are kept whole).

    >>> counter_delta({"images": 3, "cache": {"hits": 1}}, {"images": 5, "cache": {"hits": 2}})
    {'images': 2, 'cache': {'hits': 2}}
    """
    out: dict[str, Any] = {}
    for key, value in after.items():
        old = before.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            out[key] = value
        elif isinstance(old, int | float) and not isinstance(old, bool):
            out[key] = value - old
        else:
            out[key] = value
    return out


ENGINE_PARTS = {"data_wait": "waiting_for_data", "model": "model", "plan": "plan"}
# the model's counters that are seconds spent in one step (preprocess runs in the data workers,
# alongside the others)
MODEL_SECONDS = ("preprocess", "encode", "prefill", "decode")


def timing_report(
    tasks: Mapping[str, Mapping[str, Any]],
    counters: Mapping[str, Any],
    phases: Mapping[str, float],
) -> dict[str, Any]:
    """meta.json's ``timing``: the phases, the engine's split (its own timings: waiting for
    data, model calls, planning; the model's counters: preprocess, encode, prefill, decode
    seconds) and the engine's rate (generated samples per engine second).

    >>> r = timing_report({"t": {"seconds": 2.0, "generated": 8, "timings": {"data_wait": 0.5}}},
    ...                   {"encode": 0.25, "images": 4}, {"engine": 2.0})
    >>> r["engine_s"], r["samples_per_s_engine"], r["engine_parts_s"]["encode"]
    (2.0, 4.0, 0.25)
    """
    engine = sum(float(t.get("seconds") or 0.0) for t in tasks.values())
    generated = sum(int(t.get("generated") or 0) for t in tasks.values())
    parts: dict[str, float] = {}
    for t in tasks.values():
        for key, label in ENGINE_PARTS.items():
            value = (t.get("timings") or {}).get(key)
            if isinstance(value, int | float):
                parts[label] = parts.get(label, 0.0) + float(value)
    for key, value in counters.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if key in MODEL_SECONDS:
                parts[key] = float(value)
            for suffix in ("_seconds", "_s"):
                if key.endswith(suffix):
                    parts[key.removesuffix(suffix)] = float(value)
    return {
        "phases_s": {k: round(v, 3) for k, v in phases.items()},
        "engine_s": round(engine, 3),
        "engine_parts_s": {k: round(v, 3) for k, v in parts.items()},
        "generated": generated,
        "samples_per_s_engine": round(generated / engine, 3) if engine > 0 else None,
    }


CACHE_SHOWN = ("entries", "bytes", "max_bytes", "hits", "misses")  # a cache's, in the log line


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _plain(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _write_text(path: Path, text: str) -> None:
    try:
        atomic_write_text(path, text)
    except OSError as exc:
        if is_write_fault(exc):
            raise write_error(exc, path) from None
        raise


class Outcome:
    """What this run's tasks came to: failures per task, tasks where nothing succeeded."""

    def __init__(self) -> None:
        # (run label, task, failed, total, predictions file)
        self.failed: list[tuple[str, str, int, int, Path]] = []
        self.errors: list[str] = []

    def add(self, label: str, task: str, entry: dict[str, Any], path: Path) -> None:
        if entry.get("error"):
            self.errors.append(f"{task} ({label}): {entry['error']}; see {path}")
        elif entry.get("failed"):
            total = int(entry.get("total") or 0)
            self.failed.append((label, task, int(entry["failed"]), total, path))

    def warning(self) -> str | None:
        """One line naming the failure count per task, or None."""
        if not self.failed:
            return None
        labels = {f[0] for f in self.failed}
        parts = [
            f"{t} {k} of {n}" + (f" ({lab})" if len(labels) > 1 else "")
            for lab, t, k, n, _ in self.failed
        ]
        return (
            f"warning: failed samples, counted as wrong in the scores: {', '.join(parts)} "
            f"(reasons in the 'failed' field of predictions/<task>.jsonl; strict=true makes "
            f"this an error)"
        )

    def finish(self, strict: bool = False) -> None:
        """Print the warning; raise HarnessError when a task had no success, or on failures
        under ``strict``."""
        line = self.warning()
        if self.errors:
            if line:
                print(line, file=sys.stderr)
            more = f" (and {len(self.errors) - 1} more task(s))" if len(self.errors) > 1 else ""
            raise HarnessError(self.errors[0] + more)
        if line and strict:
            total = sum(f[2] for f in self.failed)
            raise HarnessError(
                f"strict=true: {total} failed sample(s): "
                + ", ".join(f"{t} {k} of {n}" for _, t, k, n, _ in self.failed)
            )
        if line:
            print(line, file=sys.stderr)


OUTCOME = Outcome()


def new_outcome() -> Outcome:
    """Start counting a new run's outcome (the runner calls this first)."""
    global OUTCOME
    OUTCOME = Outcome()
    return OUTCOME


def finish_outcome(strict: bool = False) -> None:
    OUTCOME.finish(strict)
