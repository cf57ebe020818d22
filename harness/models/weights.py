"""Reading checkpoint weights: safetensors (single or sharded) and ``pytorch_model.bin``.

Only the tensors asked for are read (safetensors is memory-mapped), so picking the projector
out of a 7B checkpoint costs megabytes, not gigabytes. Key mismatches are reported by name.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

from harness.errors import HarnessError

SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a checkpoint folder (shards from the index, else the single file), or []."""
    for name in INDEX_FILES:
        index = folder / name
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (json.JSONDecodeError, KeyError) as exc:
                raise HarnessError(f"{index}: not a weight index ({exc})") from None
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise HarnessError(f"{folder}: shard {missing[0]} listed in {name} is missing")
            return [folder / s for s in shards]
    return [folder / n for n in SINGLE_FILES if (folder / n).is_file()][:1]


def _read_bin(path: Path) -> dict[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # corrupt file, pickle with non-tensor objects
        raise HarnessError(f"{path}: cannot read weights ({type(exc).__name__}: {exc})") from None
    if not isinstance(sd, Mapping):
        raise HarnessError(f"{path}: expected a state dict, found {type(sd).__name__}")
    return dict(sd)


def read_tensors(files: Iterable[Path], want: Callable[[str], bool] = lambda k: True) -> dict[str, torch.Tensor]:
    """Tensors whose key satisfies ``want`` from the given files (on CPU, original dtype)."""
    out: dict[str, torch.Tensor] = {}
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            try:
                with safe_open(str(path), framework="pt") as f:
                    for k in f.keys():
                        if want(k):
                            out[k] = f.get_tensor(k)
            except Exception as exc:
                raise HarnessError(f"{path}: cannot read safetensors ({type(exc).__name__}: {exc})") from None
        else:
            out.update({k: v for k, v in _read_bin(path).items() if want(k)})
    return out


def list_keys(files: Iterable[Path]) -> list[str]:
    """All tensor names in the files (safetensors headers only; .bin files are memory-mapped)."""
    keys: list[str] = []
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as f:
                keys.extend(f.keys())
        else:
            keys.extend(_read_bin(path).keys())
    return keys


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The entries under ``prefix`` with the prefix removed.

    >>> strip_prefix({"a.b": 1, "a.c": 2, "x": 3}, "a.")
    {'b': 1, 'c': 2}
    """
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def check_state_dict(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], where: str, prefix: str = "") -> None:
    """Raise HarnessError naming missing, unexpected or mis-shaped keys (shown with ``prefix``)."""
    expected = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in sd.items()}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    shaped = sorted(k for k in set(expected) & set(found) if expected[k] != found[k])
    problems = []
    if missing:
        problems.append(f"missing keys {_names(missing, prefix)}")
    if unexpected:
        problems.append(f"unexpected keys {_names(unexpected, prefix)}")
    if shaped:
        problems.append("mis-shaped keys " + ", ".join(
            f"{prefix}{k} (checkpoint {list(found[k])}, model {list(expected[k])})" for k in shaped[:5]))
    if problems:
        raise HarnessError(f"{where}: {'; '.join(problems)}")


def _names(keys: list[str], prefix: str, limit: int = 8) -> str:
    shown = ", ".join(prefix + k for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_checked(module: torch.nn.Module, sd: Mapping[str, torch.Tensor], where: str, prefix: str = "") -> None:
    """Strictly load ``sd`` into ``module`` (which may live on the meta device) after checking keys and shapes."""
    check_state_dict(module, sd, where, prefix)
    module.load_state_dict(dict(sd), strict=True, assign=True)
