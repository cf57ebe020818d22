"""Config helpers: read config-group files shipped inside the package, validate group names."""
from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.errors import HarnessError

GROUPS = ("task", "encoder", "model", "device", "data")


def conf_dir() -> Path:
    """The package's config folder (works from a checkout and from a non-editable install)."""
    return Path(str(resources.files("harness") / "conf"))


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))


def check_choice(group: str, name: str) -> None:
    """Raise a one-line HarnessError listing the valid names when ``name`` is not an option of ``group``."""
    options = group_options(group)
    if name not in options:
        close = difflib.get_close_matches(name, options, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise HarnessError(f"unknown {group} {name!r}{hint}; valid: {', '.join(options)}")


def load_group(group: str, name: str) -> dict[str, Any]:
    """One option of a config group as a plain dict (used to expand grids and task=all)."""
    check_choice(group, name)
    return OmegaConf.to_container(OmegaConf.load(conf_dir() / group / f"{name}.yaml"), resolve=True)  # type: ignore[return-value]


def to_dict(cfg: DictConfig | dict | None) -> dict[str, Any]:
    if cfg is None:
        return {}
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    return dict(cfg)


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


def check_argv(argv: list[str]) -> None:
    """Validate ``group=name`` overrides before Hydra sees them, for one-line errors."""
    for arg in argv:
        if arg.startswith("-") or "=" not in arg:
            continue
        key, _, value = arg.lstrip("+~").partition("=")
        if key in GROUPS and value and not value.startswith(("[", "$")) and "," not in value:
            check_choice(key, value)
