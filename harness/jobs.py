"""From the composed config and the user's overrides to the jobs of a run.

A run evaluates one or more encoders (a grid expands to its members) on one or more tasks
(``task=all`` expands to the ten). Each member is merged from its own YAML file into the typed
schema and then receives *every* override the user wrote for its group, so ``encoder=paper
encoder.select_layer=-3`` sets the layer of each of the four rows. What the user wrote always
wins: where a default would replace it (demo data over a dataset path, a demo model over a
checkpoint) the run uses the user's value or refuses with one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from harness.config import has_encoder_placeholder, load_group_cfg, parse_overrides, per_encoder
from harness.errors import ConfigError as HarnessError
from harness.names import did_you_mean
from harness.schema import MODEL_KEYS, EncoderConfig, TaskConfig
from harness.tasks.base import PROTOCOL_ALIASES


@dataclass
class Written:
    """What the user wrote on the command line, by key."""

    groups: dict[str, str] = field(default_factory=dict)  # group -> chosen option
    keys: dict[str, Any] = field(default_factory=dict)  # dotted key -> value

    @classmethod
    def of(cls, overrides: Sequence[str]) -> Written:
        from harness.config import GROUPS

        out = cls()
        for key, value, _ in parse_overrides(overrides):
            if key in GROUPS:
                out.groups[key] = value
            else:
                out.keys[key] = value
        return out

    def under(self, prefix: str) -> dict[str, Any]:
        """Keys below ``prefix.`` (prefix stripped)."""
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.keys.items() if k.startswith(p)}


@dataclass
class Plan:
    encoders: list[DictConfig]  # one per run folder (a grid: several)
    tasks: list[DictConfig]  # resolved TaskConfig of every task, dataset and protocol final
    data: str  # demo | hub | local
    grid: str | None  # the grid's name, when encoders came from one
    output_dir: str
    overrides: list[str] = field(default_factory=list)  # what the user wrote


def plan(cfg: DictConfig, written: Written, dirs: Sequence[Path]) -> Plan:
    """The jobs of a run; a one-line HarnessError for every conflict between what the user
    wrote and what the run would do."""
    kind = str(cfg.model.name)
    _check_model_keys(kind, written)
    if cfg.get("tasks"):  # a saved run folder's config.yaml: every task already resolved
        tasks = [_typed(TaskConfig, t) for t in cfg.tasks.values()]
        encoders, grid = [cfg.encoder], None
        data = str(cfg.data.name)
    else:
        encoders, grid = _encoders(cfg, kind, written, dirs)
        data = _data_source(cfg, kind, written, encoders)
        tasks = [_task(cfg, t, written) for t in _task_configs(cfg, written, dirs)]
    for t in tasks:
        _point_dataset(cfg, t, data)
    if kind == "replay":
        _check_replay_files(cfg, encoders)
    out = cfg.output_dir or _default_output(cfg, kind, grid, encoders, data)
    return Plan(encoders=encoders, tasks=tasks, data=data, grid=grid, output_dir=str(out))


def _typed(schema: type, values: Any) -> DictConfig:
    """``values`` merged into the typed ``schema`` (a dataclass: the result is a DictConfig)."""
    return cast(DictConfig, OmegaConf.merge(OmegaConf.structured(schema), values))


# ---- encoders -----------------------------------------------------------------------------
def _check_model_keys(kind: str, written: Written) -> None:
    allowed = MODEL_KEYS.get(kind, set())
    for key in written.under("model"):
        top = key.split(".")[0]
        if top not in allowed:
            raise HarnessError(
                f"model.{key} is not used by model={kind} (it reads: "
                f"{', '.join(sorted(allowed - {'name'})) or 'no model keys'})"
            )


def _encoders(
    cfg: DictConfig, kind: str, written: Written, dirs: Sequence[Path]
) -> tuple[list[DictConfig], str | None]:
    enc_keys = {k: v for k, v in written.under("encoder").items() if k not in ("name", "grid")}
    if kind != "mllm" and enc_keys:
        key = next(iter(enc_keys))
        raise HarnessError(
            f"encoder.{key} has no effect with model={kind} (its answers do not "
            "depend on the encoder); drop it"
        )
    ckpt = cfg.model.get("checkpoint") if kind == "mllm" else None
    chosen = "encoder" in written.groups
    grid_names = list(cfg.encoder.grid or [])
    if ckpt and not chosen and not written.under("encoder").get("grid"):
        enc = _member(_inferred_encoder(str(ckpt)), enc_keys, dirs)
        enc.demo = False  # the checkpoint given is loaded, even one the demo once wrote
        return [enc], None
    if not grid_names:
        members, grid = [cfg.encoder], None
    else:
        members = [_member(n, enc_keys, dirs) for n in grid_names]
        grid = str(cfg.encoder.name)
    if kind == "mllm":
        composed = cfg.model.get("llm") and cfg.model.get("projector")
        real = [str(m.name) for m in members if not m.demo]
        if real and not ckpt and not composed:
            raise HarnessError(
                f"encoder={real[0]}: model=mllm needs model.checkpoint=<MLLM folder> "
                "(or model.llm + model.projector); grids: model.checkpoint="
                "/ckpts/llava-%encoder%"
            )
        for m in members:
            _check_checkpoint(ckpt, m)
    elif grid and not (kind == "replay" and has_encoder_placeholder(cfg.model.predictions)):
        # the encoder does not change oracle/replay answers: one row, not four copies
        label = kind.capitalize()
        return [_typed(EncoderConfig, {"name": kind, "label": label})], None
    return members, grid


def _member(name: str, overrides: dict[str, Any], dirs: Sequence[Path]) -> DictConfig:
    enc = load_group_cfg("encoder", name, dirs)
    if enc.grid:
        raise HarnessError(f"encoder grid member {name!r} is itself a grid")
    for key, value in overrides.items():
        OmegaConf.update(enc, key, value, merge=True)
    return enc


def _inferred_encoder(ckpt: str) -> str:
    if has_encoder_placeholder(ckpt):
        raise HarnessError(
            f"model.checkpoint={ckpt} has an %encoder% placeholder but no encoder "
            "grid was chosen; give encoder=paper (or another grid)"
        )
    from harness.models.towers import checkpoint_tower

    tower = checkpoint_tower(ckpt)
    if tower is None:
        raise HarnessError(
            f"cannot tell which encoder model.checkpoint={ckpt} was built on; "
            "name it with encoder=clip_l|siglip|unit_600m|unit_1b"
        )
    return tower


def _check_checkpoint(ckpt: Any, enc: DictConfig) -> None:
    if not ckpt:
        return
    path = per_encoder(ckpt, str(enc.name))
    if enc.demo:
        raise HarnessError(
            f"encoder={enc.name} is a demo encoder with its own built-in "
            f"checkpoint; model.checkpoint={path} would not be used. Name the "
            "checkpoint's encoder (or drop encoder= to infer it)"
        )
    from harness.models.towers import checkpoint_tower

    tower = checkpoint_tower(path)
    if tower is not None and tower not in (enc.name, enc.family):
        raise HarnessError(
            f"model.checkpoint={path} was built on encoder {tower} (its vision "
            f"tower), but encoder={enc.name}; drop encoder= or fix one of them"
        )


def _check_replay_files(cfg: DictConfig, encoders: list[DictConfig]) -> None:
    import os

    if not cfg.model.predictions:
        raise HarnessError("model=replay needs model.predictions=FILE")
    for enc in encoders:
        path = Path(os.path.expanduser(per_encoder(str(cfg.model.predictions), str(enc.name))))
        if not path.exists():  # a file, or a folder of per-task files (lmms-eval, VLMEvalKit)
            raise HarnessError(f"model.predictions: no such file {path}")


# ---- data ---------------------------------------------------------------------------------
def _data_source(cfg: DictConfig, kind: str, written: Written, encoders: list[DictConfig]) -> str:
    source = str(cfg.data.name)
    dataset_keys = [
        k
        for k in written.keys
        if k.startswith("task.dataset.") or (k.startswith("task.overrides.") and ".dataset." in k)
    ]
    if source == "auto":
        real_model = kind == "replay" or (kind == "mllm" and any(not e.demo for e in encoders))
        return "hub" if dataset_keys or real_model else "demo"
    if dataset_keys and source == "demo" and "data" in written.groups:
        raise HarnessError(
            f"{dataset_keys[0]}={written.keys[dataset_keys[0]]} conflicts with "
            "data=demo (the demo sets replace the dataset); drop data=demo"
        )
    if source == "local":
        paths = [k for k in dataset_keys if k.endswith(".dataset.path")]
        if paths:
            raise HarnessError(
                f"{paths[0]} conflicts with data=local (data.root/<task> is the "
                "dataset folder); drop one of them"
            )
    return source


def _point_dataset(cfg: DictConfig, task: DictConfig, source: str) -> None:
    """Point a task's dataset at the demo set or a local root (hub: as configured)."""
    import os

    name = str(task.name)
    if source == "demo":
        from harness.demo.data import demo_dataset

        root = cfg.data.root or Path(str(cfg.cache_dir)) / "demo" / "data"
        ds = demo_dataset(name, Path(str(root)), {})
        task.dataset.path, task.dataset.format, task.dataset.demo = ds["path"], "hub", True
    elif source == "local":
        if not cfg.data.root:
            raise HarnessError("data=local needs data.root=DIR (DIR/<task>/ for each task)")
        root = Path(os.path.expanduser(str(cfg.data.root)))
        path = task.dataset.path or name
        candidates = [root / name, root / Path(str(path)).name]
        found = next((c for c in candidates if c.is_dir()), None)
        if found is None:
            raise HarnessError(
                f"data=local: no folder for task {name} under {root} (looked for "
                f"{', '.join(str(c) for c in candidates)})"
            )
        task.dataset.path = str(found)


# ---- tasks --------------------------------------------------------------------------------
def _task_configs(cfg: DictConfig, written: Written, dirs: Sequence[Path]) -> list[DictConfig]:
    names = list(cfg.task.names or [])
    per_task = dict(cfg.task.overrides or {})
    if not names:
        base = _typed(TaskConfig, cfg.task)
        base.overrides = {}
        extra = {k: v for k, v in per_task.items() if k != base.name}
        if extra:
            raise HarnessError(
                f"task.overrides.{next(iter(extra))}: not a task of this run (task={base.name})"
            )
        return [_apply(base, per_task.get(str(base.name)), f"task.overrides.{base.name}")]
    unknown = [k for k in per_task if k not in names]
    if unknown:
        raise HarnessError(
            f"task.overrides.{unknown[0]}: not a task of this run"
            f"{did_you_mean(unknown[0], names)}; tasks: {', '.join(names)}"
        )
    common = {
        k: v
        for k, v in written.under("task").items()
        if k.split(".")[0] not in ("name", "names", "overrides")
    }
    out = []
    for name in names:
        tc = load_group_cfg("task", name, dirs)
        for key, value in common.items():
            OmegaConf.update(tc, key, value, merge=True)
        out.append(_apply(tc, per_task.get(name), f"task.overrides.{name}"))
    return out


def _apply(tc: DictConfig, extra: Any, where: str) -> DictConfig:
    if not extra:
        return tc
    try:
        return cast(DictConfig, OmegaConf.merge(tc, extra))  # a DictConfig merged: a DictConfig
    except Exception as exc:
        from harness.config import one_line

        raise HarnessError(f"{where}: {one_line(exc)}") from None


def _task(cfg: DictConfig, tc: DictConfig, written: Written) -> DictConfig:
    name = str(tc.name)
    run_wide = "protocol" in written.keys
    if run_wide and "task.protocol" in written.keys:
        raise HarnessError(
            f"protocol={written.keys['protocol']} and task.protocol="
            f"{written.keys['task.protocol']} both given; give one of them"
        )
    if tc.protocol is None:
        tc.protocol = cfg.protocol
    tc.protocol = PROTOCOL_ALIASES.get(str(tc.protocol), str(tc.protocol))
    from harness.tasks import get_task_class

    cls = get_task_class(name, tc.get("adapter"))
    if tc.protocol not in cls.protocols:
        where = "task.protocol" if not run_wide else "protocol"
        raise HarnessError(
            f"{where}={tc.protocol}: task {name} has no such protocol; valid: "
            f"{', '.join(cls.protocols)}"
        )
    judge_keys = [k for k in _written_task_keys(written, name) if k.startswith("judge.")]
    if judge_keys and not cls.uses_judge:
        raise HarnessError(f"task.{judge_keys[0]}: task {name} has no judge (MathVista has)")
    return tc


def _written_task_keys(written: Written, name: str) -> list[str]:
    keys = [
        k[len("task.") :]
        for k in written.keys
        if k.startswith("task.") and not k.startswith("task.overrides.")
    ]
    own = f"task.overrides.{name}."
    return keys + [k[len(own) :] for k in written.keys if k.startswith(own)]


def _default_output(
    cfg: DictConfig, kind: str, grid: str | None, encoders: list[DictConfig], data: str
) -> str:
    enc = grid or (str(encoders[0].name) if encoders else "none")
    if kind != "mllm" and len(encoders) == 1 and encoders[0].name == kind:
        enc = "any"
    return f"runs/{kind}-{enc}-{cfg.task.name}-{data}"
