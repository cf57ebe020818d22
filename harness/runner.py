"""Build models and tasks from the resolved config, evaluate, and write the run folder.

``run(cfg)`` is the undecorated function behind ``python -m harness``; tests call it with a
config from ``hydra.compose``.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from harness.config import check_overrides, check_value, per_encoder, search_dirs, to_dict
from harness.device import DeviceSpec, resolve_device
from harness.errors import ConfigError, HarnessError
from harness.jobs import Plan, Written, plan
from harness.results import (
    RunClock,
    RunWriter,
    dataset_fingerprint,
    finish_outcome,
    new_outcome,
    task_scores,
)
from harness.schema import schema_of
from harness.tasks import get_task_class
from harness.tasks.base import Task

if TYPE_CHECKING:
    from harness.models.base import Model

# Models that compute nothing: they need no accelerator, so torch is not loaded for them.
NO_COMPUTE_MODELS = ("oracle", "replay")

log = logging.getLogger("harness")


_ORIGIN: tuple[float, str] | None = None


def set_origin(epoch: float | None, source: str = "") -> None:
    """Where the next ``run()``'s clock starts (the command line passes the process start);
    without it (or after ``set_origin(None)``) ``run()`` measures from its own call."""
    global _ORIGIN
    _ORIGIN = None if epoch is None else (epoch, source)


def run(cfg: DictConfig, overrides: Sequence[str] | None = None) -> list[Path]:
    """Evaluate every (encoder, task) of the config; return the run folders written.

    ``overrides`` are the command line's ``key=value`` arguments: under ``python -m harness``
    they come from Hydra; a config from ``hydra.compose(..., return_hydra_config=True)`` carries
    them too. They decide what the user asked for (see :mod:`harness.jobs`).
    """
    global _ORIGIN
    origin, _ORIGIN = _ORIGIN or (time.time(), "run() call"), None
    clock = RunClock(*origin)
    clock.lap("startup")
    from harness.engine.dist import env_ranks, init_from_env, shutdown
    from harness.engine.files import ignore_file_size_signal, open_output
    from harness.engine.interrupt import exit_on_sigterm, exit_status, resume_hint

    cfg, jobs, task_list = prepare(cfg, overrides)
    clock.lap("config_and_data")
    overrides = jobs.overrides
    _seed(int(cfg.seed))
    _, world, local_rank = env_ranks()  # torchrun: one process per device, index = LOCAL_RANK
    device = resolve_device(
        _device_type(cfg), str(cfg.dtype), index=local_rank if world > 1 else None
    )
    exit_on_sigterm()  # SIGTERM: like Ctrl-C, exit 143
    ignore_file_size_signal()  # past `ulimit -f` a write raises EFBIG (reported) instead of killing
    new_outcome()
    ctx = init_from_env(device.dist_backend)
    if not ctx.is_main:
        logging.getLogger("harness").setLevel(logging.WARNING)
    lock = (
        open_output(cfg.output_dir, cfg.get("min_free_mb")) if ctx.is_main else None
    )  # writable, ours
    # its own phase: probing an accelerator (device=auto) imports torch, which a model run pays
    # here rather than in its load; torchrun's process group starts here too
    clock.lap("device_and_output")
    try:
        dirs = _run(cfg, jobs, task_list, list(overrides), device, ctx.is_main, clock)
        if ctx.is_main:  # a warning line for failed samples; an error where a task had no success
            finish_outcome(bool(cfg.get("strict") or False))
        return dirs
    except KeyboardInterrupt as exc:  # the engine stopped after a batch; its predictions are saved
        if ctx.is_main:
            print(resume_hint(exc), file=sys.stderr)
        raise SystemExit(exit_status(exc)) from None
    finally:
        if lock is not None:
            lock.release()
        shutdown()


def _device_type(cfg: DictConfig) -> str:
    """The device asked for; ``auto`` is the CPU for a model that computes nothing (the oracle,
    replay), so that choosing among accelerators does not load torch for it."""
    kind = str(cfg.device.type)
    return "cpu" if kind == "auto" and str(cfg.model.name) in NO_COMPUTE_MODELS else kind


def prepare(
    cfg: DictConfig, overrides: Sequence[str] | None = None
) -> tuple[DictConfig, Plan, list[Task]]:
    """The checked config, its jobs and their tasks (datasets opened): all that ``run`` does
    before any work. Every fault here is a :class:`ConfigError` (exit code 2)."""
    overrides, dirs = _invocation(cfg, overrides)
    try:
        return _plan(cfg, overrides, dirs)
    except HarnessError as exc:
        raise (exc if isinstance(exc, ConfigError) else ConfigError(str(exc))) from None


def _plan(
    cfg: DictConfig, overrides: list[str], dirs: list[Path]
) -> tuple[DictConfig, Plan, list[Task]]:
    check_overrides(overrides, dirs)
    cfg = _resolved(cfg)
    validate(cfg)
    written = Written.of(overrides)
    if cfg.get("tasks") and written.under("task"):
        key = next(iter(written.under("task")))
        raise ConfigError(
            f"task.{key}: this config is a saved job with its tasks resolved; set "
            f"harness.tasks.<name>.{key}=... instead"
        )
    jobs = plan(cfg, written, dirs)
    jobs.overrides = list(overrides)
    task_list = [
        get_task_class(str(t.name), t.get("adapter"))(_task_dict(cfg, t)) for t in jobs.tasks
    ]
    for task in task_list:
        task.docs()  # a missing, empty or wrong dataset is found now, before anything is written
    return cfg, jobs, task_list


def _invocation(cfg: DictConfig, overrides: Sequence[str] | None) -> tuple[list[str], list[Path]]:
    """The user's overrides and the config folders searched (``--config-dir`` first)."""
    from hydra.core.hydra_config import HydraConfig

    hydra_node = cfg.get("hydra") if "hydra" in cfg else None
    if hydra_node is None and HydraConfig.initialized():
        hydra_node = HydraConfig.get()
    sources: list[str] = []
    if hydra_node is not None:
        if overrides is None:
            overrides = list(hydra_node.overrides.task)
        sources = [
            s.path for s in hydra_node.runtime.config_sources if s.schema == "file" and s.path
        ]
    return list(overrides or []), search_dirs(sources)


def _resolved(cfg: DictConfig) -> DictConfig:
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise HarnessError(
            f"missing config value(s): {', '.join(missing)} (set on the command "
            f"line, e.g. {missing[0]}=...)"
        )
    try:
        OmegaConf.resolve(cfg)
    except MissingMandatoryValue as exc:
        raise HarnessError(
            f"missing config value {exc.full_key!r} (set it on the command line: "
            f"{exc.full_key}=...)"
        ) from None
    return cfg


def _run(
    cfg: DictConfig,
    jobs: Plan,
    task_list: list[Task],
    overrides: list[str],
    device: DeviceSpec,
    main: bool,
    clock: RunClock | None = None,
) -> list[Path]:
    out = Path(jobs.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    log.info(
        "device %s, dtype %s; data %s; tasks: %s; runs: %s",
        device.type,
        device.dtype_name,
        jobs.data,
        ", ".join(f"{t.name} ({t.protocol})" for t in task_list),
        ", ".join(str(e.label or e.name) for e in jobs.encoders),
    )
    grid = len(jobs.encoders) > 1
    explicit = sorted(
        k for k in Written.of(overrides).under("encoder") if k not in ("name", "grid")
    )
    run_dirs = []
    clock = clock or RunClock(time.time(), "run() call")
    writers: list[tuple[RunWriter, dict[str, float]]] = []
    for enc in jobs.encoders:
        run_dir = out / str(enc.name) if grid else out
        job = job_config(cfg, jobs, enc, run_dir)
        enc_dict = to_dict(enc) | {"explicit": explicit}  # these win over the checkpoint's
        run_dirs.append(
            evaluate_encoder(
                job,
                enc_dict,
                task_list,
                device,
                run_dir,
                main,
                overrides=overrides,
                clock=clock,
                writers=writers,
            )
        )
    if main:
        _print_table(run_dirs, out)
        clock.lap("writing")
        for writer, before in writers:  # the table written: the results are complete now
            writer.finish(clock=clock, phases=run_phases(clock.phases, before))
            log.info("%s", writer.summary())
    return run_dirs


SHARED_PHASES = ("startup", "config_and_data")


def run_phases(now: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    """One run folder's phases: the invocation's shared ones (start-up, config and data) whole,
    the others from this run's start (``before``), and the earlier runs of a grid as one.

    >>> run_phases({"startup": 1.0, "engine": 5.0}, {"startup": 1.0, "engine": 3.0})
    {'startup': 1.0, 'engine': 2.0, 'earlier_runs': 3.0}
    """
    out = {k: v if k in SHARED_PHASES else v - before.get(k, 0.0) for k, v in now.items()}
    earlier = sum(v for k, v in before.items() if k not in SHARED_PHASES)
    if earlier > 0:
        out["earlier_runs"] = earlier
    return out


def _task_dict(cfg: DictConfig, tc: DictConfig) -> dict[str, Any]:
    d = to_dict(tc)
    for key in ("names", "overrides"):
        d.pop(key, None)
    d["cache_dir"] = str(Path(cfg.cache_dir))
    return d


def job_config(cfg: DictConfig, jobs: Plan, enc: DictConfig, run_dir: Path) -> DictConfig:
    """One run folder's whole config, resolved: ``python -m harness --config-path <run_dir>``
    re-runs exactly this job (every task, dataset, protocol and model setting as evaluated)."""
    body = to_dict(cfg)
    model = body["model"]
    for key in ("checkpoint", "llm", "projector", "predictions"):
        model[key] = per_encoder(model.get(key), str(enc.name))
    body.update(
        encoder=to_dict(enc),
        model=model,
        output_dir=str(run_dir),
        data={"name": jobs.data, "root": body["data"].get("root")},
        task={"name": str(cfg.task.name)},
        tasks={
            str(t.name): _task_dict(cfg, t) | {"names": None, "overrides": {}} for t in jobs.tasks
        },
    )
    for t in body["tasks"].values():
        t.pop("cache_dir", None)
    return OmegaConf.create(
        {
            "defaults": ["config_schema", "_self_"],
            **body,
            "hydra": {
                "run": {"dir": "."},
                "output_subdir": None,
                "job": {"name": "harness", "chdir": False},
            },
        }
    )


def validate(cfg: DictConfig) -> None:
    """One-line errors for top-level values of the wrong kind, wherever they were written (a
    user's YAML as well as the command line): the same check as every override."""
    for key in ("batch_size", "num_workers", "limit", "seed"):
        check_value(key, schema_of(key), cfg[key])


def _seed(seed: int) -> None:
    """Python's and numpy's generators (torch's is seeded where torch is loaded: see
    :func:`build_model`; seeded now as well when something already loaded it)."""
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)


# ---- one encoder ------------------------------------------------------------------------------
def build_model(cfg: DictConfig, enc: dict[str, Any], device: DeviceSpec) -> Model:
    kind = cfg.model.name
    if kind == "oracle":
        from harness.models.oracle import OracleModel

        return OracleModel()
    if kind == "replay":
        from harness.models.replay import ReplayModel

        path = cfg.model.predictions
        return ReplayModel(
            per_encoder(path, enc["name"]) if path else path, cfg.model.get("predictions_format")
        )
    import torch

    torch.manual_seed(int(cfg.seed))
    from harness.models.mllm import load_mllm

    model_cfg = to_dict(cfg.model)
    if enc.get("demo"):  # the demo's tiny MLLM, built on first use, loads as any checkpoint
        from harness.demo.models import demo_cfg

        model_cfg = demo_cfg(enc, Path(cfg.cache_dir), model_cfg)
    model = load_mllm(model_cfg, enc, device)
    if str(cfg.batch_size) != "auto":
        model.batch_size = int(cfg.batch_size)
    model.share_images = bool(cfg.share_images)  # meta.json describes the setting in effect
    return model


def evaluate_encoder(
    cfg: DictConfig,
    enc: dict[str, Any],
    task_list: list[Task],
    device: DeviceSpec,
    run_dir: Path,
    main: bool = True,
    overrides: Sequence[str] = (),
    clock: RunClock | None = None,
    writers: list[tuple[RunWriter, dict[str, float]]] | None = None,
) -> Path:
    """Evaluate one encoder's model on every task into ``run_dir``. ``clock`` times the phases
    (a new one, from this call, when None); ``writers`` collects the run's writer, which the
    caller finishes once the table is written (without it, finished here)."""
    from harness.engine import EngineSettings, run_task
    from harness.engine.core import default_resume_key

    clock = clock or RunClock(time.time(), "run() call")
    before = dict(clock.phases)
    clock.lap("setup")
    writer = RunWriter(run_dir, cfg, enc, device) if main else None
    if writer is not None:  # what was asked and what it resolved to, beside the scores
        resolved = {k: v for k, v in to_dict(cfg).items() if k not in ("defaults", "hydra")}
        writer.meta.update(
            overrides=list(overrides), config=resolved, data_source=str(cfg.data.name)
        )
    clock.lap("writing")
    model = build_model(cfg, enc, device)
    model_fp = model.fingerprint()  # hashes checkpoints: once per encoder, not per task
    model.check_tasks(task_list, cfg.limit)  # replay: saved ids against the datasets, before work
    load_seconds = clock.lap("model_load")
    settings_used = settings_in_effect(cfg, model, device)
    if writer is not None:
        writer.set_model(model, load_seconds=load_seconds, fingerprint=model_fp)
        writer.set_settings(settings_used)
    for task in task_list:
        data_fp = dataset_fingerprint(task)
        settings = EngineSettings(
            batch_size="auto" if str(cfg.batch_size) == "auto" else int(cfg.batch_size),
            num_workers=int(cfg.num_workers),
            limit=cfg.limit,
            share_images=bool(cfg.share_images),
            resume_key=default_resume_key(task, model_fp, dataset=data_fp),
            retry_failed=bool(cfg.get("retry_failed", True)),
        )
        clock.lap("data_fingerprint")
        result = run_task(task, model, run_dir, settings)
        clock.lap("engine")
        if writer is None:  # not rank 0
            continue
        scores = task_scores(task, result.records)
        clock.lap("scoring")
        for key, used in (("batch_size", "batch_size_used"), ("workers", "num_workers_used")):
            value = (result.timings or {}).get(key)
            if value is not None:
                settings_used.setdefault(used, {})[task.name] = value
        settings_used["share_images"] = bool(model.share_images)  # as the engine left it
        writer.set_settings(settings_used)
        writer.add_task(task, scores, result, data_fp, counters=model.counters())
        log.info(
            "%s | %s: %s = %s (n=%d, failed=%d, %.1fs)",
            enc["label"],
            task.label,
            scores["metric"],
            "—" if scores["value"] is None else f"{scores['value']:.2f}",
            scores["n"],
            scores["failed"],
            result.seconds,
        )
        clock.lap("writing")
    if writer is not None:
        writer.finish(clock=clock, phases=run_phases(clock.phases, before))
        clock.lap("writing")
        if writers is not None:
            writers.append((writer, before))
        else:
            log.info("%s", writer.summary())
    return run_dir


def settings_in_effect(cfg: DictConfig, model: Model, device: DeviceSpec) -> dict[str, Any]:
    """meta.json's ``settings``: what the run uses, after ``auto`` and the model resolved
    (the engine's batch size and worker count per task are added as each task ends)."""
    out: dict[str, Any] = {
        "device": device.device_str,
        "dtype": device.dtype_name,
        "batch_size": str(cfg.batch_size) if str(cfg.batch_size) == "auto" else int(cfg.batch_size),
        "num_workers": int(cfg.num_workers),
        "limit": cfg.limit,
        "share_images": bool(model.share_images and model.can_share_images),
        "share_images_requested": bool(cfg.share_images),
        "seed": int(cfg.seed),
        "retry_failed": bool(cfg.get("retry_failed", True)),
        "strict": bool(cfg.get("strict") or False),
        "world_size": _world_size(),
    }
    if str(cfg.model.name) not in NO_COMPUTE_MODELS:
        described = model.describe()
        cache = described.get("feature_cache") or {}
        out["feature_cache_bytes"] = cache.get("max_bytes", cfg.model.get("feature_cache_bytes"))
        out["cpu_threads_requested"] = cfg.model.get("cpu_threads")
        if device.type == "cpu":  # the intra-op threads the model computes with (demo: 1)
            import torch

            out["cpu_threads"] = described.get("cpu_threads") or torch.get_num_threads()
    return out


def _world_size() -> int:
    from harness.engine.dist import env_ranks

    return env_ranks()[1]


def _print_table(run_dirs: list[Path], out: Path) -> None:
    from harness.report.table import build_table

    table = build_table(run_dirs)
    (out / "table.md").write_text(table.to_markdown(), encoding="utf-8")
    (out / "table.csv").write_text(table.to_csv(), encoding="utf-8")
    print(table.to_text())
    print(f"\nresults: {out}")


__all__ = ["run"]
