"""Reading checkpoint weights: safetensors (single or sharded) and ``pytorch_model.bin``.

Only the tensors asked for are read (safetensors is memory-mapped), so picking the projector
out of a 7B checkpoint costs megabytes, not gigabytes. Key mismatches are reported by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import torch

from harness.errors import HarnessError

SINGLE_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")


def weight_files(folder: Path) -> list[Path]:
    """The weight files of a checkpoint folder (shards from the index, else the single file), or
    []."""
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


def read_tensors(
    files: Iterable[Path], want: Callable[[str], bool] = lambda k: True
) -> dict[str, torch.Tensor]:
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
                raise HarnessError(
                    f"{path}: cannot read safetensors ({type(exc).__name__}: {exc})"
                ) from None
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
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}


def check_state_dict(
    module: torch.nn.Module, sd: Mapping[str, torch.Tensor], where: str, prefix: str = ""
) -> None:
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
        problems.append(
            "mis-shaped keys "
            + ", ".join(
                f"{prefix}{k} (checkpoint {list(found[k])}, model {list(expected[k])})"
                for k in shaped[:5]
            )
        )
    if problems:
        raise HarnessError(f"{where}: {'; '.join(problems)}")


def _names(keys: list[str], prefix: str, limit: int = 8) -> str:
    shown = ", ".join(prefix + k for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_checked(
    module: torch.nn.Module, sd: Mapping[str, torch.Tensor], where: str, prefix: str = ""
) -> None:
    """Strictly load ``sd`` into ``module`` (which may live on the meta device) after checking keys
    and shapes."""
    check_state_dict(module, sd, where, prefix)
    module.load_state_dict(dict(sd), strict=True, assign=True)


# transformers Llava/LlavaNext weight names, as 4.x (< 4.52), 4.52-4.57 and 5.x write or hold them
_HF_LLAVA_RENAMES = (
    (
        re.compile(
            r"^model\.(language_model|vision_tower|multi_modal_projector"
            r"|image_newline)"
        ),
        r"\1",
    ),
    (re.compile(r"^language_model\.model\."), "language_model."),
    (re.compile(r"^language_model\.lm_head\."), "lm_head."),
    (re.compile(r"^vision_tower\.vision_model\."), "vision_tower."),
)


def hf_llava_key(key: str) -> str:
    """One spelling of a Llava/LlavaNext weight name, whichever transformers version wrote it.

    >>> hf_llava_key("language_model.model.layers.0.mlp.up_proj.weight")
    'language_model.layers.0.mlp.up_proj.weight'
    >>> hf_llava_key("model.language_model.layers.0.mlp.up_proj.weight")
    'language_model.layers.0.mlp.up_proj.weight'
    >>> hf_llava_key("model.vision_tower.vision_model.embeddings.patch_embedding.weight")
    'vision_tower.embeddings.patch_embedding.weight'
    >>> hf_llava_key("language_model.lm_head.weight"), hf_llava_key("model.image_newline")
    ('lm_head.weight', 'image_newline')
    """
    for pattern, repl in _HF_LLAVA_RENAMES:
        key = pattern.sub(repl, key)
    return key


def load_hf_llava_renamed(
    model: torch.nn.Module, files: list[Path], where: str, tied: set[str]
) -> None:
    """Load a Llava/LlavaNext folder's tensors into ``model`` matching names across transformers
    versions (for a transformers that does not rename another version's layout itself).
    Weights the model needs and the files lack (tied ones aside) are a HarnessError."""
    by_name = {hf_llava_key(k): v for k, v in read_tensors(files).items()}
    found, missing = {}, []
    for key in model.state_dict():
        tensor = by_name.get(hf_llava_key(key))
        if tensor is None:
            if key not in tied:
                missing.append(key)
        else:
            found[key] = tensor
    if missing:
        shown = ", ".join(sorted(missing)[:6])
        raise HarnessError(
            f"{where}: weights missing for {len(missing)} keys ({shown}); refusing a random init"
        )
    check_state_dict(model, {**model.state_dict(), **found}, where)  # shapes
    model.load_state_dict(found, strict=False)
