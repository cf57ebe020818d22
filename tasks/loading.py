"""Dataset access shared by task adapters: the lmms-lab hub schema (hub id or local snapshot)."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.types import ImageRef


def load_hub(path: str, name: str | None, split: str, image_columns: Sequence[str] = ("image",)):
    """Load one config/split of a hub-schema dataset from a hub id or a local snapshot folder.

    Image columns are left undecoded (bytes), so records stay cheap and decoding happens in
    data-loader workers. Errors name the path, config and split.
    """
    import datasets

    local = Path(os.path.expanduser(path))
    looks_local = local.exists() or path.startswith((".", "/", "~"))
    if looks_local and not local.is_dir():
        raise HarnessError(f"dataset folder not found: {local}")
    try:
        ds = datasets.load_dataset(str(local) if looks_local else path, name, split=split)
    except ValueError as exc:  # unknown config or split
        raise HarnessError(f"dataset {path}: cannot load config {name!r} split {split!r}: {_first_line(exc)}") from None
    except FileNotFoundError as exc:
        raise HarnessError(f"dataset {path} not found ({_first_line(exc)}); give a local snapshot folder "
                           f"with task.dataset.path=DIR") from None
    except Exception as exc:  # offline hub, connection errors, corrupt shards
        raise HarnessError(f"dataset {path} (config {name!r}, split {split!r}) failed to load: "
                           f"{type(exc).__name__}: {_first_line(exc)}") from None
    for col in image_columns:
        if col in ds.column_names and isinstance(ds.features[col], datasets.Image):
            ds = ds.cast_column(col, datasets.Image(decode=False))
    return ds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hub_image(value: Any, key: str | None = None) -> ImageRef:
    """An undecoded hub image cell (``{"bytes", "path"}``) as an ImageRef; raise SampleError if absent."""
    if isinstance(value, dict) and (value.get("bytes") or value.get("path")):
        return ImageRef(data=value.get("bytes"), path=None if value.get("bytes") else value.get("path"), key=key)
    if value is not None and hasattr(value, "convert"):
        return ImageRef(image=value, key=key)
    raise SampleError("record has no image")


class LazyDocs(Sequence):
    """A read-only sequence that converts dataset rows to documents on access.

    Keeps memory flat for large sets (12k GQA questions, DocVQA pages) while the engine
    iterates in any order.
    """

    def __init__(self, rows: Any, convert: Callable[[int, dict], dict]):
        self.rows, self.convert = rows, convert

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        doc = self.convert(i, self.rows[i])
        doc.setdefault("_index", i)
        return doc


def require(record: dict, *keys: str) -> None:
    """Raise SampleError naming the first missing or null field."""
    for k in keys:
        if record.get(k) is None:
            raise SampleError(f"record is missing field {k!r}")
