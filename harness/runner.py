"""Build models and tasks from the resolved config, evaluate, and write the run folder.

``run(cfg)`` is the undecorated function behind ``python -m harness``; tests call it with a
config from ``hydra.compose``.
"""
from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from harness import PAPER_TASKS
from harness.config import has_encoder_placeholder, load_group, per_encoder, to_dict
from harness.device import DeviceSpec, resolve_device
from harness.engine import EngineSettings, run_task
from harness.engine.core import default_resume_key
from harness.engine.dist import env_ranks, init_from_env, shutdown
from harness.engine.interrupt import resume_hint
from harness.errors import HarnessError
from harness.models.base import Model
from harness.results import RunWriter, dataset_fingerprint, task_scores
from tasks import get_task_class
from tasks.base import Task

log = logging.getLogger("harness")


def run(cfg: DictConfig) -> list[Path]:
    """Evaluate every (encoder, task) of the config; return the run folders written."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise HarnessError(f"missing config value(s): {', '.join(missing)} (set on the command line, e.g. "
                           f"{missing[0]}=...)")
    try:
        OmegaConf.resolve(cfg)
    except MissingMandatoryValue as exc:
        raise HarnessError(f"missing config value {exc.full_key!r} (set it on the command line: {exc.full_key}=...)") from None
    validate(cfg)
    _seed(int(cfg.seed))
    _, world, local_rank = env_ranks()  # torchrun: one process per device, device index = LOCAL_RANK
    device = resolve_device(cfg.device.type, str(cfg.dtype), index=local_rank if world > 1 else None)
    ctx = init_from_env(device.dist_backend)
    if not ctx.is_main:
        logging.getLogger("harness").setLevel(logging.WARNING)
    try:
        return _run(cfg, device, ctx.is_main)
    except KeyboardInterrupt as exc:  # the engine stopped after a batch; its predictions are saved
        if ctx.is_main:
            print(resume_hint(exc), file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        shutdown()


def _run(cfg: DictConfig, device: DeviceSpec, main: bool) -> list[Path]:
    out = Path(cfg.output_dir)
    encoders = resolve_encoders(cfg)
    task_list = build_tasks(cfg)
    out.mkdir(parents=True, exist_ok=True)
    if main:  # under torchrun, rank 0 alone writes the results
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg), encoding="utf-8")
    log.info("device %s, dtype %s; tasks: %s; runs: %s", device.type, device.dtype_name,
             ", ".join(t.name for t in task_list), ", ".join(e["label"] for e in encoders))
    grid = len(encoders) > 1
    run_dirs = []
    for enc in encoders:
        run_dir = out / enc["name"] if grid else out
        run_dirs.append(evaluate_encoder(cfg, enc, task_list, device, run_dir, main))
    if main:
        _print_table(run_dirs, out)
    return run_dirs


def _whole(value, key: str, minimum: int, allow=()) -> None:
    if value in allow:
        return
    try:
        ok = int(str(value)) >= minimum and str(int(str(value))) == str(value).strip()
    except ValueError:
        ok = False
    if not ok:
        extra = "".join(f" or {a}" for a in allow if a is not None)
        raise HarnessError(f"{key}={value!r}: expected an integer >= {minimum}{extra}")


def validate(cfg: DictConfig) -> None:
    """One-line errors for top-level values of the wrong kind (before anything is loaded)."""
    _whole(cfg.batch_size, "batch_size", 1, allow=("auto",))
    _whole(cfg.num_workers, "num_workers", 0)
    _whole(cfg.limit, "limit", 0, allow=(None,))
    _whole(cfg.seed, "seed", 0)


def _seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---- what to evaluate ---------------------------------------------------------------------
def resolve_encoders(cfg: DictConfig) -> list[dict[str, Any]]:
    """The encoder configs of this run: one, a grid (``encoder.grid``), or a model label for
    oracle / replay runs where the encoder plays no part."""
    enc = to_dict(cfg.encoder)
    names = enc.get("grid")
    encoders = [load_group("encoder", n) for n in names] if names else [enc]
    model = cfg.model.name
    if model == "oracle" or (model == "replay" and not has_encoder_placeholder(cfg.model.predictions)):
        if names:  # the encoder does not change oracle/replay answers: one row, not four copies
            return [{"name": model, "label": model.capitalize(), "family": None, "arch": None}]
    return encoders


def build_tasks(cfg: DictConfig) -> list[Task]:
    tcfg = to_dict(cfg.task)
    if tcfg.get("names"):
        overrides = tcfg.get("overrides") or {}
        configs = [_merge(load_group("task", n), overrides.get(n, {})) for n in tcfg["names"]]
    else:
        configs = [tcfg]
    tasks = []
    for tc in configs:
        tc["dataset"] = _dataset_for(cfg, tc["name"], dict(tc.get("dataset") or {}))
        tc.setdefault("cache_dir", str(Path(cfg.cache_dir)))
        tasks.append(get_task_class(tc["name"])(tc))
    return tasks


def _merge(base: dict, extra: dict) -> dict:
    return to_dict(OmegaConf.merge(base, extra)) if extra else base


def _dataset_for(cfg: DictConfig, task: str, ds: dict) -> dict:
    """Point a task's dataset at the demo set, a local root, or leave its hub id."""
    source = cfg.data.name
    if source == "demo":
        from harness.demo.data import demo_dataset

        ds = demo_dataset(task, Path(cfg.data.root), ds)
    elif source == "local":
        root = Path(os.path.expanduser(str(cfg.data.root)))
        candidates = [root / task, root / Path(str(ds.get("path", task))).name]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise HarnessError(f"data=local: no folder for task {task} under {root} (looked for "
                               f"{', '.join(str(c) for c in candidates)})")
        ds["path"] = str(found)
    return ds


# ---- one encoder ------------------------------------------------------------------------------
def build_model(cfg: DictConfig, enc: dict, device: DeviceSpec) -> Model:
    kind = cfg.model.name
    if kind == "oracle":
        from harness.models.oracle import OracleModel

        return OracleModel()
    if kind == "replay":
        from harness.models.replay import ReplayModel

        path = cfg.model.predictions
        return ReplayModel(per_encoder(path, enc["name"]) if path else path)
    from harness.models.mllm import load_mllm

    model = load_mllm(to_dict(cfg.model), enc, device, Path(cfg.cache_dir))
    if str(cfg.batch_size) != "auto":
        model.batch_size = int(cfg.batch_size)
    return model


def evaluate_encoder(cfg: DictConfig, enc: dict, task_list: list[Task], device: DeviceSpec,
                     run_dir: Path, main: bool = True) -> Path:
    writer = RunWriter(run_dir, cfg, enc, device) if main else None
    t0 = time.perf_counter()
    model = build_model(cfg, enc, device)
    model_fp = model.fingerprint()  # hashes checkpoints: once per encoder, not per task
    if writer is not None:
        writer.set_model(model, load_seconds=time.perf_counter() - t0, fingerprint=model_fp)
    for task in task_list:
        if hasattr(model, "task"):
            model.task = task.name  # replay: look up task-qualified ids first
        data_fp = dataset_fingerprint(task)
        settings = EngineSettings(
            batch_size="auto" if str(cfg.batch_size) == "auto" else int(cfg.batch_size),
            num_workers=int(cfg.num_workers), limit=cfg.limit, share_images=bool(cfg.share_images),
            resume_key=default_resume_key(task, model_fp, dataset=data_fp))
        result = run_task(task, model, run_dir, settings)
        if writer is None:  # not rank 0
            continue
        scores = task_scores(task, result.records)
        writer.add_task(task, scores, result, data_fp)
        log.info("%s | %s: %s = %.2f (n=%d, failed=%d, %.1fs)", enc["label"], task.label, scores["metric"],
                 scores["value"], scores["n"], scores["failed"], result.seconds)
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


__all__ = ["run", "PAPER_TASKS"]
