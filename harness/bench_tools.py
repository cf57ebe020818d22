"""What both benchmarks (:mod:`harness.bench`, :mod:`harness.bench_sharing`) build on: the
model and task as ``python -m harness`` builds them, the engine run, the counters reset
between timed runs, and the *compute floor*: the bare model's own encode, prefill and decode
on the very batches the engine ran (:func:`capture`, :func:`floor`)."""

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
from harness.engine.loader import pack
from harness.errors import ConfigError

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from harness.device import DeviceSpec
    from harness.jobs import Plan
    from harness.models.base import Model
    from harness.models.generation import Clock
    from harness.models.mllm import MLLM
    from harness.models.prepare import Prepared
    from harness.models.sharing import PrefixSharer
    from harness.tasks.base import Task

DEFAULTS = ("model=mllm", "encoder=demo_clip_l", "task=docvqa", "data=demo", "device=cpu")


NOT_APPLIED = {
    "limit": "the bench times the task's whole set (--copies repeats a small one)",
    "batch_size": "use --batch-sizes",
    "num_workers": "use --num-workers",
    "share_images": "use --share-images, or --sharing to time it on and off",
    "output_dir": "use --out",
    "seed": "greedy decoding: nothing is drawn",
    "retry_failed": "every timed run starts afresh",
    "strict": "the bench reports failures, it does not fail on them",
    "min_free_mb": "the bench writes two small files",
}
"""Run-level settings of ``python -m harness`` that the bench sets itself: written as overrides
they would not take effect, so they are refused."""


def check_applied(overrides: Sequence[str]) -> None:
    """ConfigError naming the first override the bench would not apply (see NOT_APPLIED).

    >>> check_applied(["encoder=demo_siglip", "task.max_new_tokens=4"])
    >>> check_applied(["limit=10"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.errors.ConfigError: limit=10: python -m harness.bench does not apply this setting (...)
    """
    for arg in overrides:
        key = arg.lstrip("+~").split("=", 1)[0].strip()
        if key in NOT_APPLIED:
            raise ConfigError(
                f"{arg}: python -m harness.bench does not apply this setting ({NOT_APPLIED[key]})"
            )


def compose(overrides: Sequence[str]) -> tuple[DictConfig, Plan, list[Task]]:
    """The checked config, its jobs and tasks, exactly as ``python -m harness`` plans them;
    run-level settings the bench sets itself are refused (:func:`check_applied`)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from harness.config import conf_dir
    from harness.runner import prepare

    check_applied(overrides)
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
    """Zero the model's counters, and start it cold: no cached image features, no kept prefix
    (so every timed run, engine or floor, does the same work)."""
    model.profile = True
    model.start_cold()
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


# ---- the compute floor ------------------------------------------------------------------------
Batches = list[list["Prepared"]]


def capture(
    task: TaskProtocol, model: MLLM, batch_size: int, workers: int, share: bool
) -> tuple[dict[str, str | None], Batches]:
    """One (untimed) engine run that keeps a copy of every batch the engine hands the model, in
    its order, with its sizes and its rows (so its sharing groups): the floor's inputs, prepared
    beforehand. Copies leave the workers' shared memory (:func:`~harness.engine.loader.pack`: an
    image's pixels shared by several questions stay one tensor)."""
    batches: Batches = []
    call = model.generate_prepared

    def keep(batch: Sequence[Prepared]) -> list[Any]:
        batches.append(pack(list(batch)))
        return call(batch)

    model.generate_prepared = keep  # type: ignore[method-assign]  # the engine reads the attribute
    try:
        preds, _ = engine(task, model, batch_size, workers, share)
    finally:
        del model.generate_prepared
    return preds, batches


def floor(
    model: MLLM, batches: Batches, share: bool
) -> tuple[dict[str, str | None], dict[str, float]]:
    """The bare model on ``batches``: per batch its images through the encoder and projector
    (:meth:`~harness.models.mllm.MLLM.encode_images`), the prompt embeddings spliced, the LLM's
    prefill and greedy decode (:func:`~harness.models.generation.greedy`; with ``share``, each
    image encoded once per batch and its prefix prefilled once,
    :class:`~harness.models.sharing.PrefixSharer`), and the ids detokenised. No engine, no data
    loading, no feature cache. Returns the predictions by id and its ``wall`` seconds; encode,
    prefill and decode seconds and the counters go to ``model.timings`` as in an engine run."""
    from harness.models.generation import Clock, cut_at_stop
    from harness.models.mllm import cpu_threads
    from harness.models.sharing import PrefixSharer

    timings = model.timings  # counted as the engine's run counts them (the caller resets them)
    sharer = PrefixSharer(model.lm) if share else None
    preds: dict[str, str | None] = {}
    t0 = time.perf_counter()
    with torch.no_grad(), model.device.autocast(), cpu_threads(model.cpu_threads):
        clock = Clock(timings, model.device.synchronize)
        for batch in batches:
            for p, ids in zip(batch, _floor_ids(model, batch, sharer, clock)):
                text = model.tokenizer.decode(ids, skip_special_tokens=True)
                preds[p.id] = cut_at_stop(text, p.stop).strip()
    return preds, {"wall": time.perf_counter() - t0}


def _floor_ids(
    model: MLLM,
    batch: list[Prepared],
    sharer: PrefixSharer | None,
    clock: Clock,
    unshared: bool = False,
) -> list[list[int]]:
    from harness.models.generation import RowSpec, greedy
    from harness.models.kvcache import Unsupported

    specs = [RowSpec(p.gen.max_new_tokens, p.stop) for p in batch]
    groups = sharer.plan(batch) if sharer is not None and not unshared else None
    if sharer is None or groups is None:
        feats = model.encode_images(
            [pv for p in batch for pv in p.pixel_values],
            [s for p in batch for s in p.image_sizes],
        )
        it = iter(feats)
        per_row = [[next(it) for _ in p.pixel_values] for p in batch]
        rows = [model.embed_ids(p.input_ids, f) for p, f in zip(batch, per_row)]
        hook = sharer.keeper(batch[-1], per_row[-1], len(batch) - 1) if sharer is not None else None
        return greedy(
            model.lm,
            rows,
            specs,
            model.eos,
            model._decode_raw,
            clock.timings,
            clock.sync,
            on_prefill=hook,
        )
    fresh = [g for g, key in enumerate(groups.keys) if not sharer.carried(key)]
    reps = [batch[groups.first[g]] for g in fresh]
    distinct: dict[str, tuple[torch.Tensor, tuple[int, int]]] = {}
    for rep in reps:
        for h, pv, size in zip(rep.image_hashes, rep.pixel_values, rep.image_sizes):
            distinct.setdefault(h, (pv, size))
    encoded = dict(
        zip(
            distinct,
            model.encode_images(
                [v[0] for v in distinct.values()], [v[1] for v in distinct.values()]
            )
            if distinct
            else [],
        )
    )
    prefixes = {
        g: model.embed_ids(
            rep.input_ids[: groups.lengths[g]], [encoded[h] for h in rep.image_hashes]
        )
        for g, rep in zip(fresh, reps)
    }
    suffixes = [
        model.embed_ids(p.input_ids[groups.lengths[g] :], []) for p, g in zip(batch, groups.of_row)
    ]
    try:
        return sharer.generate(
            groups, prefixes, suffixes, specs, model.eos, model._decode_raw, clock
        )
    except Unsupported as exc:  # as the model does: this batch (or model) runs unshared
        sharer.refused(exc)
        return _floor_ids(model, batch, sharer, clock, unshared=True)
