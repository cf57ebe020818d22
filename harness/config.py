"""Config helpers: where the config groups live, group options, and override validation.

Every command-line override is checked against the typed schema (:mod:`harness.schema`) before
anything runs: an unknown key gets a did-you-mean, a value of the wrong kind names the key. Both
are one-line :class:`HarnessError` (exit code 2 from ``python -m harness``).
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from harness.errors import ConfigError as HarnessError
from harness.names import PAPER_TASKS, builtin_conf_dir, did_you_mean

GROUPS = ("task", "encoder", "model", "device", "data")

# conf/task/all.yaml reads the paper's benchmark list from its one home (harness.names).
if not OmegaConf.has_resolver("paper_tasks"):
    OmegaConf.register_new_resolver("paper_tasks", lambda: list(PAPER_TASKS))


def conf_dir() -> Path:
    """The built-in config folder (:func:`harness.names.builtin_conf_dir`), with the schema
    registered for any compose."""
    import harness.schema  # noqa: F401  (registers ``config_schema`` for any compose)

    return builtin_conf_dir()


def search_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    """Config folders searched for group options: the user's (``--config-dir``) first."""
    dirs = [Path(os.path.expanduser(str(d))) for d in extra]
    return [d for d in dirs if d.is_dir()] + [conf_dir()]


def group_options(group: str, dirs: Sequence[Path] | None = None) -> list[str]:
    dirs = search_dirs() if dirs is None else dirs
    return sorted({p.stem for d in dirs for p in (d / group).glob("*.yaml")})


def check_choice(group: str, name: str, dirs: Sequence[Path] | None = None) -> None:
    """Raise a one-line HarnessError listing the valid names when ``name`` is not an option."""
    options = group_options(group, dirs)
    if name not in options:
        raise HarnessError(
            f"unknown {group} {name!r}{did_you_mean(name, options)}; valid: {', '.join(options)}"
        )


def group_file(group: str, name: str, dirs: Sequence[Path] | None = None) -> Path:
    check_choice(group, name, dirs)
    dirs = search_dirs() if dirs is None else dirs
    return next(d / group / f"{name}.yaml" for d in dirs if (d / group / f"{name}.yaml").is_file())


def load_group_cfg(group: str, name: str, dirs: Sequence[Path] | None = None) -> DictConfig:
    """One option of a config group merged into its typed schema (unknown keys and wrong types
    in the file are one-line errors naming the file)."""
    from harness.schema import GROUP_SCHEMAS

    path = group_file(group, name, dirs)
    try:
        data = OmegaConf.load(path)
        if not isinstance(data, DictConfig):
            raise HarnessError("expected a mapping of settings, got a list")
        data.pop("defaults", None)
        merged = OmegaConf.merge(OmegaConf.structured(GROUP_SCHEMAS[group]), data)
        return cast(DictConfig, merged)  # a structured (dataclass) schema merges to a DictConfig
    except Exception as exc:  # omegaconf's ValidationError / ConfigKeyError / yaml errors
        raise HarnessError(f"{path}: {one_line(exc)}") from None


def load_group(group: str, name: str, dirs: Sequence[Path] | None = None) -> dict[str, Any]:
    """One option of a config group as a plain dict, every schema key present."""
    return to_dict(load_group_cfg(group, name, dirs))


def to_dict(cfg: DictConfig | dict[str, Any] | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (omegaconf's carry full_key/object_type lines)."""
    msg = str(getattr(exc, "msg", None) or exc).strip().splitlines()
    return msg[0] if msg else type(exc).__name__


ENCODER_PLACEHOLDERS = ("%encoder%", "{encoder}")


def has_encoder_placeholder(value: Any) -> bool:
    return value is not None and any(p in str(value) for p in ENCODER_PLACEHOLDERS)


def per_encoder(value: Any, encoder: str) -> Any:
    """Fill a path's encoder placeholder (``%encoder%`` on the command line, where Hydra does
    not accept braces; ``{encoder}`` in YAML) with the encoder's name, for grids.

    >>> per_encoder("/ckpts/llava-%encoder%", "unit_1b"), per_encoder("/c/{encoder}/x", "clip_l")
    ('/ckpts/llava-unit_1b', '/c/clip_l/x')
    >>> per_encoder(None, "clip_l") is None
    True
    """
    if value is None:
        return None
    out = str(value)
    for p in ENCODER_PLACEHOLDERS:
        out = out.replace(p, encoder)
    return out


# ---- override validation -----------------------------------------------------------------
def parse_overrides(argv: Sequence[str]) -> list[tuple[str, Any, bool]]:
    """The ``key=value`` overrides of a command line as ``(key, value, deleted)``; Hydra's own
    flags and ``hydra.*`` keys are left out."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [a for a in argv if not a.startswith("-") and "=" in a or a.startswith("~")]
    try:
        parsed = OverridesParser.create().parse_overrides(args)
    except Exception as exc:
        raise HarnessError(f"cannot parse override: {one_line(exc)}") from None
    out = []
    for o in parsed:
        key = o.key_or_group
        if key.startswith("hydra"):
            continue
        if o.is_sweep_override():
            raise HarnessError(
                f"{o.input_line}: a sweep; give one value (grids: encoder=paper, "
                "task=all) or use --multirun"
            )
        out.append((key, None if o.is_delete() else o.value(), o.is_delete()))
    return out


def check_overrides(argv: Sequence[str], dirs: Sequence[Path] | None = None) -> None:
    """Validate every override against the schema: group options, key names (with a
    did-you-mean), value kinds and ranges. One-line HarnessError on the first fault."""
    for key, value, deleted in parse_overrides(argv):
        if key in GROUPS:
            if deleted or not isinstance(value, str):
                raise HarnessError(f"{key}={value!r}: expected one {key} name")
            check_choice(key, value, dirs)
            continue
        parts = key.split(".")
        if parts[:2] == ["task", "overrides"] and len(parts) > 2:
            tasks = [t for t in group_options("task", dirs) if t != "all"] or list(PAPER_TASKS)
            if parts[2] not in tasks:
                raise HarnessError(
                    f"{key}: unknown task {parts[2]!r}"
                    f"{did_you_mean(parts[2], tasks)}; valid: {', '.join(tasks)}"
                )
            if len(parts) > 3:
                check_key_value("task." + ".".join(parts[3:]), value, shown=key)
            continue
        check_key_value(key, value)


def check_key_value(key: str, value: Any, shown: str | None = None) -> None:
    from harness.schema import key_names, schema_of

    shown = shown or key
    tp = schema_of(key)
    if tp is None:
        parent, _, leaf = key.rpartition(".")
        base = shown.rpartition(".")[0]
        hint = did_you_mean(leaf, key_names(parent), prefix=base + "." if base else "")
        raise HarnessError(f"unknown config key {shown!r}{hint}")
    check_value(shown, tp, value)


_RANGES = {
    "limit": 0,
    "seed": 0,
    "num_workers": 0,
    "max_new_tokens": 1,
    "feature_cache_bytes": 0,
    "cpu_threads": 1,
    "retries": 0,
}


def check_value(key: str, tp: Any, value: Any) -> None:
    """Raise a one-line HarnessError when ``value`` is not of the schema's type ``tp``.

    >>> check_value("seed", int, 3)
    >>> check_value("seed", int, "abc")
    Traceback (most recent call last):
    ...
    harness.errors.ConfigError: seed='abc': expected an integer
    """
    leaf = key.rsplit(".", 1)[-1]
    if value is None:
        return  # None is validated by OmegaConf (Optional fields) when the config is composed
    if leaf == "batch_size":
        if value == "auto" or (
            isinstance(value, int) and not isinstance(value, bool) and value >= 1
        ):
            return
        raise HarnessError(f"{key}={value!r}: expected an integer >= 1 or auto")
    kind = _kind(tp)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, (str, int, float)) and not isinstance(value, bool),
        "list": isinstance(value, (list, str)),
        "any": True,
        "node": isinstance(value, dict),
    }[kind]
    if not ok:
        expected = {
            "int": "an integer",
            "float": "a number",
            "bool": "true or false",
            "str": "a string",
            "list": "a list",
            "node": "a group of keys",
        }[kind]
        raise HarnessError(f"{key}={value!r}: expected {expected}")
    low = _RANGES.get(leaf)
    if low is not None and kind == "int" and value < low:
        raise HarnessError(f"{key}={value!r}: expected an integer >= {low}")


def _kind(tp: Any) -> str:
    from dataclasses import is_dataclass

    if is_dataclass(tp):
        return "node"
    if tp in (int, float, bool, str):
        return str(tp.__name__)
    if typing.get_origin(tp) in (list, list):
        return "list"
    return "any"


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``+key=value`` for a key the schema already has is plain ``key=value`` (Hydra would refuse
    to append an existing key; older instructions wrote ``+task.protocol=...``), and a per-task
    setting ``task.overrides.<task>.<key>=...`` always gets the ``+`` Hydra needs for a new key.

    >>> normalise_argv(["+task.protocol=llava", "+x.y=1", "task.overrides.mme.protocol=x"])
    ['task.protocol=llava', '+x.y=1', '+task.overrides.mme.protocol=x']
    """
    from harness.schema import schema_of

    out = []
    for a in argv:
        key = a.lstrip("+").split("=", 1)[0]
        if "=" in a and not a.startswith("-") and not key.startswith("hydra"):
            if key.startswith("task.overrides."):
                a = "+" + a.lstrip("+")  # always a new key of a free-form mapping
            elif a.startswith("+") and schema_of(key) is not None:
                a = a.lstrip("+")
        out.append(a)
    return out


def check_argv(argv: Sequence[str]) -> None:
    """Validate a command line's overrides before Hydra sees them, for one-line errors."""
    check_overrides(argv, search_dirs(_config_dirs(argv)))


def _config_dirs(argv: Sequence[str]) -> list[str]:
    """The ``--config-dir``/``-cd`` folders of a command line."""
    out = []
    for i, a in enumerate(argv):
        if a in ("--config-dir", "-cd") and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith("--config-dir="):
            out.append(a.split("=", 1)[1])
    return out
