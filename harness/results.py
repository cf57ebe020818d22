"""The run folder: scores.json, meta.json, config.yaml (predictions are the engine's).

scores.json and meta.json are rewritten (atomically) after every task, so a run that dies
later keeps every finished task's scores.
"""
from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

import harness
from harness.device import DeviceSpec
from harness.fingerprint import dir_fingerprint, obj_fingerprint
from tasks.base import Task

PACKAGES = ("torch", "torch_npu", "transformers", "timm", "tokenizers", "datasets", "safetensors",
            "hydra-core", "omegaconf", "pillow", "numpy", "pandas")


def task_scores(task: Task, records: list[dict]) -> dict[str, Any]:
    """The scores.json entry of one task, from its per-sample records."""
    ok = [r for r in records if r.get("failed") is None]
    failed = len(records) - len(ok)
    metrics = task.aggregate(ok) if ok else {}
    value = metrics.get(task.metric, float("nan"))
    entry = {"metric": task.metric, "value": _num(value), "n": len(ok), "failed": failed,
             "metrics": metrics, "protocol": task.protocol, "version": task.version, "label": task.label,
             "max_value": task.max_value, "warnings": list(task.warnings)}
    if failed:
        reasons = sorted({str(r["failed"]) for r in records if r.get("failed") is not None})
        entry["warnings"].append(f"{failed} failed sample(s), excluded from the metric; e.g. {reasons[0]}")
    if ok:
        try:
            from harness.report.stats import bootstrap_ci
        except ImportError:
            bootstrap_ci = None
        if bootstrap_ci is not None:
            entry["ci95"] = [_num(x) for x in bootstrap_ci(task.name, ok)]
    return entry


def _num(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version(), "harness": harness.__version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def git_commit() -> str | None:
    """The harness source's git commit (with ``-dirty`` for local changes), if it is a checkout."""
    src = Path(harness.__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("-dirty" if dirty else "")


def dataset_fingerprint(task: Task) -> dict[str, Any]:
    ds = dict(task.dataset)
    path = Path(os.path.expanduser(str(ds.get("path", ""))))
    fp = {k: ds.get(k) for k in ("path", "name", "split", "format")}
    fp["fingerprint"] = dir_fingerprint(path, limit=1 << 20) if path.exists() else obj_fingerprint(fp)
    return fp


def _rounded(d: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class RunWriter:
    """Accumulates one encoder's results and keeps its run folder's files current."""

    def __init__(self, run_dir: Path, cfg: DictConfig, encoder: dict, device: DeviceSpec):
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scores: dict[str, Any] = {}
        self.meta: dict[str, Any] = {
            "encoder": dict(encoder), "model": {}, "fingerprints": {}, "versions": versions(),
            "git_commit": git_commit(), "device": device.type, "dtype": device.dtype_name,
            "command": " ".join(sys.argv), "world_size": int(os.environ.get("WORLD_SIZE", 1)),
            "protocols": {}, "datasets": {}, "tasks": {},
            "wall_time_s": None, "samples_per_second": None,
        }
        (self.dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")

    def set_model(self, model, load_seconds: float, fingerprint: dict | None = None) -> None:
        self.meta["model"] = model.describe() | {"load_seconds": round(load_seconds, 3)}
        self.meta["fingerprints"] = fingerprint if fingerprint is not None else model.fingerprint()

    def add_task(self, task: Task, scores: dict, result, data_fp: dict | None = None) -> None:
        self.scores[task.name] = scores
        self.meta["protocols"][task.name] = {"protocol": task.protocol, "version": task.version}
        self.meta["datasets"][task.name] = data_fp if data_fp is not None else dataset_fingerprint(task)
        self.meta["tasks"][task.name] = {
            "n": scores["n"], "failed": scores["failed"], "seconds": round(result.seconds, 3),
            "generated": result.n_generated, "resumed": getattr(result, "n_resumed", 0),
            "timings": _rounded(getattr(result, "timings", {}) or {})}
        self._flush()

    def finish(self, wall: float) -> None:
        total = sum(t["n"] + t["failed"] for t in self.meta["tasks"].values())
        self.meta["wall_time_s"] = round(wall, 3)
        self.meta["samples_per_second"] = round(total / wall, 3) if wall > 0 else None
        self._flush()

    def _flush(self) -> None:
        write_json(self.dir / "scores.json", self.scores)
        write_json(self.dir / "meta.json", self.meta)
