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
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict
from omegaconf.errors import MissingMandatoryValue

from harness.config import check_overrides, check_value, per_encoder, search_dirs, to_dict
from harness.device import DeviceSpec, resolve_device
from harness.engine import EngineSettings, run_task
from harness.engine.core import default_resume_key
from harness.engine.dist import env_ranks, init_from_env, shutdown
from harness.engine.files import ignore_file_size_signal, open_output
from harness.engine.interrupt import exit_on_sigterm, exit_status, resume_hint
from harness.errors import ConfigError, HarnessError
from harness.jobs import Plan, Written, plan
from harness.models.base import Model
from harness.results import RunWriter, dataset_fingerprint, finish_outcome, new_outcome, task_scores
from harness.schema import schema_of
from harness.tasks import get_task_class
from harness.tasks.base import Task

log = logging.getLogger("harness")


def run(cfg: DictConfig, overrides: Sequence[str] | None = None) -> list[Path]:
    """Evaluate every (encoder, task) of the config; return the run folders written.

    ``overrides`` are the command line's ``key=value`` arguments: under ``python -m harness``
    they come from Hydra; a config from ``hydra.compose(..., return_hydra_config=True)`` carries
    them too. They decide what the user asked for (see :mod:`harness.jobs`).
    """
    cfg, jobs, task_list = prepare(cfg, overrides)
    overrides = jobs.overrides
    _seed(int(cfg.seed))
    _, world, local_rank = (
        env_ranks()
    )  # torchrun: one process per device, device index = LOCAL_RANK
    device = resolve_device(
        cfg.device.type, str(cfg.dtype), index=local_rank if world > 1 else None
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
    try:
        dirs = _run(cfg, jobs, task_list, list(overrides), device, ctx.is_main)
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
    for enc in jobs.encoders:
        run_dir = out / str(enc.name) if grid else out
        job = job_config(cfg, jobs, enc, run_dir)
        enc_dict = to_dict(enc) | {"explicit": explicit}  # these win over the checkpoint's
        run_dirs.append(
            evaluate_encoder(job, enc_dict, task_list, device, run_dir, main, overrides=overrides)
        )
    if main:
        _print_table(run_dirs, out)
    return run_dirs


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
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


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
) -> Path:
    writer = RunWriter(run_dir, cfg, enc, device) if main else None
    if writer is not None:  # what was asked and what it resolved to, beside the scores
        resolved = {k: v for k, v in to_dict(cfg).items() if k not in ("defaults", "hydra")}
        writer.meta.update(
            overrides=list(overrides), config=resolved, data_source=str(cfg.data.name)
        )
    t0 = time.perf_counter()
    model = build_model(cfg, enc, device)
    model_fp = model.fingerprint()  # hashes checkpoints: once per encoder, not per task
    model.check_tasks(task_list, cfg.limit)  # replay: saved ids against the datasets, before work
    if writer is not None:
        writer.set_model(model, load_seconds=time.perf_counter() - t0, fingerprint=model_fp)
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
        result = run_task(task, model, run_dir, settings)
        if writer is None:  # not rank 0
            continue
        scores = task_scores(task, result.records)
        writer.add_task(task, scores, result, data_fp)
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
    if writer is not None:
        writer.finish(time.perf_counter() - t0)
    return run_dir


def _print_table(run_dirs: list[Path], out: Path) -> None:
    from harness.report.table import build_table

    table = build_table(run_dirs)
    (out / "table.md").write_text(table.to_markdown(), encoding="utf-8")
    (out / "table.csv").write_text(table.to_csv(), encoding="utf-8")
    print(table.to_text())
    print(f"\nresults: {out}")


__all__ = ["run"]
