"""Which of the project's encoders a checkpoint was built on, read from its config files alone.

Standard library only (no torch, no transformers): the runner calls :func:`checkpoint_tower` to
infer ``encoder=`` from ``model.checkpoint=`` and to reject a mismatch, before loading anything.

- LLaVA code base: ``mm_vision_tower`` (or ``vision_tower``). A local folder (absolute, or
  relative to the checkpoint) is identified by its own ``config.json``; otherwise the name:
  ``openai/clip-vit-large-patch14-336``, ``google/siglip-so400m-patch14-384``,
  ``yeeaa/UNIT_600M``, ``yeeaa/UNIT_1B`` (or a path ending in those names).
- transformers Llava/LlavaNext: ``vision_config`` (absent: transformers' default, CLIP-L/14 at
  336 px). ``clip_vision_model`` 1024 wide, 24 layers, patch 14, 336 px is ``clip_l``;
  ``siglip_vision_model`` 1152 wide, 27 layers, patch 14, 384 px (so400m) is ``siglip``.
- UNIT folders (``config.json`` with ``args``): timm's ``vit_huge_patch14_224`` at depth 32 is
  ``unit_600m``; a name with ``1b`` or a depth of 40 or more is ``unit_1b``.
- Demo checkpoints carry their demo encoder's name under :data:`DEMO_KEY` (the demo writer
  records it), e.g. ``demo_clip_l``.

Anything else (CLIP-L at 224 px, another SigLIP, an unknown name) is ``None``: cannot tell.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

DEMO_KEY = "harness_demo_encoder"
_NAMES = (
    (re.compile(r"clip-vit-large-patch14-336", re.I), "clip_l"),
    (re.compile(r"siglip-so400m-patch14-384", re.I), "siglip"),
    (re.compile(r"unit[_-]?600m", re.I), "unit_600m"),
    (re.compile(r"unit[_-]?1b", re.I), "unit_1b"),
)
# (hidden_size, num_hidden_layers, patch_size, image_size) of the project's HF towers
_SHAPES = {
    ("clip_vision_model", 1024, 24, 14, 336): "clip_l",
    ("siglip_vision_model", 1152, 27, 14, 384): "siglip",
}
# transformers' defaults for keys a hand-written vision_config may leave out
_DEFAULTS = {"clip_vision_model": (768, 12, 32, 224), "siglip_vision_model": (768, 12, 16, 224)}
_LLAVA_DEFAULT_VISION = {
    "model_type": "clip_vision_model",
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "patch_size": 14,
    "image_size": 336,
}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; HarnessError naming the file when it is not one."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def tower_from_name(name: str) -> str | None:
    """The encoder a hub id or path names.

    >>> tower_from_name("openai/clip-vit-large-patch14-336"), tower_from_name("/ckpt/UNIT_1B")
    ('clip_l', 'unit_1b')
    >>> tower_from_name("google/siglip-so400m-patch14-384")
    'siglip'
    >>> tower_from_name("openai/clip-vit-large-patch14") is None  # CLIP-L at 224 px
    True
    """
    found = {enc for pattern, enc in _NAMES if pattern.search(str(name))}
    return found.pop() if len(found) == 1 else None


def tower_from_vision_config(vc: dict[str, Any]) -> str | None:
    """The encoder a transformers vision config (or a full CLIP/SigLIP config) describes.

    >>> tower_from_vision_config({"model_type": "clip_vision_model", "hidden_size": 1024,
    ...                           "num_hidden_layers": 24, "patch_size": 14, "image_size": 336})
    'clip_l'
    >>> tower_from_vision_config({"model_type": "clip_vision_model"}) is None  # CLIP-B/32 defaults
    True
    """
    mt = str(vc.get("model_type", ""))
    if mt in ("clip", "siglip") and isinstance(vc.get("vision_config"), dict):
        vc, mt = vc["vision_config"], f"{mt}_vision_model"
    if mt not in _DEFAULTS:
        return None
    keys = ("hidden_size", "num_hidden_layers", "patch_size", "image_size")
    width, depth, patch, size = (int(vc.get(k) or d) for k, d in zip(keys, _DEFAULTS[mt]))
    return _SHAPES.get((mt, width, depth, patch, size))


def tower_from_unit_args(args: dict[str, Any]) -> str | None:
    """UNIT_600M or UNIT_1B from a UNIT ``config.json``'s ``args`` (timm name and overrides).

    >>> tower_from_unit_args({"model": "vit_huge_patch14_224"})
    'unit_600m'
    >>> tower_from_unit_args({"model": "vit_huge_patch14_224", "model_kwargs": {"depth": 50}})
    'unit_1b'
    """
    name = str(args.get("model", ""))
    depth = (args.get("model_kwargs") or {}).get("depth")
    if "1b" in name.lower() or (isinstance(depth, int) and depth >= 40):
        return "unit_1b"
    if name == "vit_huge_patch14_224" and depth in (None, 32):
        return "unit_600m"
    return None


def tower_of_folder(folder: Path) -> str | None:
    """The encoder in an encoder folder (its ``config.json``, else its name), or None."""
    cfg = read_json(folder / "config.json")
    by_name = tower_from_name(folder.name) or tower_from_name(str(folder.resolve()))
    if isinstance(cfg.get("args"), dict) and "model_type" not in cfg:  # UNIT (the 1B's timm
        unit_name = by_name if by_name in ("unit_600m", "unit_1b") else None  # name may not say)
        return tower_from_unit_args(cfg["args"]) or unit_name
    if str(cfg.get("model_type", "")).startswith(("clip", "siglip")):  # the shapes decide
        return tower_from_vision_config(cfg)
    return by_name


def _local_tower(tower: str, folder: Path) -> Path | None:
    p = Path(tower).expanduser()
    for cand in (p, folder / p) if not p.is_absolute() else (p,):
        if (cand / "config.json").is_file():
            return cand
    return None


def checkpoint_tower(path: str | Path) -> str | None:
    """The project encoder (``clip_l``, ``siglip``, ``unit_600m``, ``unit_1b``, or a demo encoder's
    name) that the MLLM checkpoint at ``path`` was built on; None when its configs cannot tell.
    A folder without ``config.json`` is a HarnessError naming it."""
    folder = Path(str(path)).expanduser()
    if not folder.is_dir():
        raise HarnessError(f"{path}: checkpoint folder not found")
    if not (folder / "config.json").is_file():
        raise HarnessError(f"{folder}: no config.json (not a checkpoint folder)")
    cfg = read_json(folder / "config.json")
    if cfg.get(DEMO_KEY):
        return str(cfg[DEMO_KEY])
    if cfg.get("model_type") in ("llava", "llava_next"):
        vc = cfg.get("vision_config")
        return tower_from_vision_config(vc if isinstance(vc, dict) else _LLAVA_DEFAULT_VISION)
    tower = cfg.get("mm_vision_tower") or cfg.get("vision_tower")
    if not isinstance(tower, str) or not tower:
        return None
    local = _local_tower(tower, folder)
    if local is not None:
        return tower_of_folder(local)
    return tower_from_name(tower)
