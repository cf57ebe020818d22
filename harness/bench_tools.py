"""What both benchmarks (:mod:`harness.bench`, :mod:`harness.bench_sharing`) build on: the
model and task as ``python -m harness`` builds them, the engine run, and the counters reset
between timed runs."""

from __future__ import annotations

import resource
import tempfile
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.contracts import TaskProtocol
from harness.engine import EngineSettings, run_task

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from harness.device import DeviceSpec
    from harness.jobs import Plan
    from harness.models.base import Model
    from harness.tasks.base import Task

DEFAULTS = ("model=mllm", "encoder=demo_clip_l", "task=docvqa", "data=demo", "device=cpu")


def compose(overrides: Sequence[str]) -> tuple[DictConfig, Plan, list[Task]]:
    """The checked config, its jobs and tasks, exactly as ``python -m harness`` plans them."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from harness.config import conf_dir
    from harness.runner import prepare

    args = [*DEFAULTS, *overrides, "output_dir=unused"]
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=args)
    return prepare(cfg, args)


def load(
    overrides: Sequence[str],
) -> tuple[DictConfig, dict[str, Any], DeviceSpec, Task, Model, float]:
    """(config, encoder config, device, task, model, load seconds) as ``python -m harness`` builds
    them."""
    from harness.config import to_dict
    from harness.device import resolve_device
    from harness.runner import build_model

    cfg, jobs, tasks = compose(overrides)
    device = resolve_device(cfg.device.type, str(cfg.dtype))
    enc = to_dict(jobs.encoders[0])
    task = tasks[0]
    t0 = time.perf_counter()
    model = build_model(cfg, enc, device)
    return cfg, enc, device, task, model, time.perf_counter() - t0


class DecodeCounter:
    """Counts the rows of the language model's decode steps (calls with ``input_ids``), through
    a forward pre-hook, to check that finished sequences leave the batch: rows ≈ tokens."""

    def __init__(self, module: torch.nn.Module):
        self.rows = 0
        self.handle = module.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids")
        if ids is not None:
            self.rows += int(ids.shape[0])


DECODE_COUNTERS: weakref.WeakKeyDictionary[Model, DecodeCounter] = weakref.WeakKeyDictionary()
"""The decode-row counter hooked into each benchmarked model's language model."""


def reset(model: Model, device: DeviceSpec) -> None:
    model.profile = True
    model.timings = dict.fromkeys(model.timings, 0.0)
    if model in DECODE_COUNTERS:
        DECODE_COUNTERS[model].rows = 0
    if device.type in ("cuda", "npu"):
        getattr(torch, device.type).reset_peak_memory_stats()


def peak_mib(device: DeviceSpec) -> float:
    peak = device.peak_memory()
    if peak is not None:
        return round(peak / 2**20, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def engine(
    task: TaskProtocol, model: Model, batch_size: int, workers: int, share: bool | None = None
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The engine over ``task``; ``share``: image sharing (None: as the model has it now)."""
    share = bool(model.share_images) if share is None else share
    with tempfile.TemporaryDirectory(prefix="harness-bench-") as tmp:
        res = run_task(
            task,
            model,
            Path(tmp),
            EngineSettings(
                batch_size=batch_size,
                num_workers=workers,
                share_images=share,
                progress=False,
                resume=False,
            ),
        )
    return {r["id"]: r.get("prediction") for r in res.records}, res.timings
