"""Projected image features kept per image: a bounded in-memory LRU and an optional folder on disk.

An entry is one image's features as the LLM receives them (encoder -> LayerNorm -> projector,
anyres tiles packed), filed under ``(namespace, image hash)``:

- the *image hash* is a hash of the image's content, computed where the image is decoded: of its
  encoded bytes (``ImageRef.content_hash``; equal bytes always decode to equal pixels, and hashing
  them costs a hundredth of hashing the pixels) or, for an in-memory image, of its decoded
  pixels. So copies of one image in different rows, splits or tasks meet;
- the *namespace* is a fingerprint of everything else that decides the features: the encoder,
  projector and MLLM checkpoint fingerprints, feature selection, preprocessing (processor
  config, aspect mode, pin-points, merge), dtype and device type (see ``MLLM.feature_namespace``).

So features are never served for another checkpoint or another preprocessing. In memory the
cache holds at most ``max_bytes`` (least recently used entries leave first; an entry larger
than the limit is not kept; an entry that is a view of a larger tensor is copied, so the bytes
counted are the bytes kept). The engine tells the model which images its plan asks about again
(``Request.reuse``): the model puts in memory only features that will be used again
(``put(..., keep=False)`` otherwise) and :meth:`FeatureCache.release` drops them after their last
use; ``put`` without that knowledge keeps the least-recently-used behaviour. On disk
(``<dir>/<namespace>/<hash[:2]>/<hash>.safetensors``,
written atomically) it has no size limit; delete the folder to reclaim it.

Resident memory above the bound: on glibc, freed blocks of a few MiB go back to the heap rather
than to the system once malloc's dynamic mmap threshold has risen, so a cache that keeps evicting
leaves the process some 15-40 % above ``max_bytes`` (measured: 254 MiB of entries of 2.3 MiB,
+310-360 MiB resident; with ``MALLOC_MMAP_THRESHOLD_=1048576`` in the environment, +273 MiB).
Entries that were views of a batch's output kept the whole batch alive (+2.2 GiB for the same
254 MiB counted): they are copied now.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

from harness.engine.files import atomic_write
from harness.fingerprint import obj_fingerprint

log = logging.getLogger(__name__)
FEATURES_VERSION = 1  # bump when the code computing features changes their values


def tensor_bytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


class Namespace:
    """What features were computed with (a JSON-able mapping) and its fingerprint ``id``.

    >>> Namespace({"a": 1}).id == Namespace({"a": 1}).id != Namespace({"a": 2}).id
    True
    """

    def __init__(self, spec: dict[str, Any]):
        self.spec = spec
        self.id = obj_fingerprint(spec)


def owned(t: torch.Tensor) -> torch.Tensor:
    """``t``, or a copy of it when it is a view of a larger storage (a row of a batch output:
    keeping the view would keep the whole batch alive).

    >>> batch = torch.zeros(4, 10)
    >>> owned(batch[1]).untyped_storage().nbytes(), owned(batch) is batch
    (40, True)
    """
    if t.untyped_storage().nbytes() > tensor_bytes(t):
        return t.clone()
    return t


class FeatureCache:
    """``get(namespace, image_hash)`` / ``put(namespace, image_hash, features, keep)`` /
    ``release(namespace, image_hash)``; counters in ``stats``, all of it in :meth:`counters`."""

    def __init__(self, max_bytes: int = 1 << 30, disk_dir: str | Path | None = None):
        self.max_bytes = max(0, int(max_bytes))
        self.disk_dir = Path(disk_dir).expanduser() if disk_dir else None
        self.entries: OrderedDict[tuple[str, str], torch.Tensor] = OrderedDict()
        self.bytes = 0
        self.stats = {
            "hits": 0,
            "disk_hits": 0,
            "misses": 0,
            "evicted": 0,
            "freed_after_last_use": 0,
            "disk_writes": 0,
            "peak_bytes": 0,
            "peak_entries": 0,
        }
        self._described: set[str] = set()

    def counters(self) -> dict[str, int]:
        """Entries and bytes held now, the byte bound, and the counters since the start.

        >>> c = FeatureCache(max_bytes=100)
        >>> c.put(Namespace({}), "h", torch.zeros(5))
        >>> {k: c.counters()[k] for k in ("entries", "bytes", "max_bytes", "peak_bytes")}
        {'entries': 1, 'bytes': 20, 'max_bytes': 100, 'peak_bytes': 20}
        """
        return {
            "entries": len(self.entries),
            "bytes": self.bytes,
            "max_bytes": self.max_bytes,
            **self.stats,
        }

    def __len__(self) -> int:
        return len(self.entries)

    def get(
        self,
        namespace: Namespace,
        image_hash: str,
        device: torch.device | None = None,
        keep: bool = True,
    ) -> torch.Tensor | None:
        """An image's features from memory, else from disk (kept in memory when ``keep``)."""
        ns = namespace.id
        key = (ns, image_hash)
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            self.stats["hits"] += 1
            return found
        found = self._read(ns, image_hash, device)
        if found is None:
            self.stats["misses"] += 1
            return None
        self.stats["disk_hits"] += 1
        if keep:
            self._keep(key, found)
        return found

    def put(
        self, namespace: Namespace, image_hash: str, features: torch.Tensor, keep: bool = True
    ) -> None:
        """File ``features``: in memory when ``keep`` (False: they will not be asked for again,
        any entry of that image leaves), and on disk when there is a folder."""
        if keep:
            self._keep((namespace.id, image_hash), features)
        else:
            self.release(namespace, image_hash)
        if self.disk_dir is not None:
            self._write(namespace, image_hash, features)

    def release(self, namespace: Namespace, image_hash: str) -> None:
        """Drop an image's entry from memory after its last use (no-op when absent)."""
        old = self.entries.pop((namespace.id, image_hash), None)
        if old is not None:
            self.bytes -= tensor_bytes(old)
            self.stats["freed_after_last_use"] += 1

    def clear(self) -> None:
        self.entries.clear()
        self.bytes = 0

    # ---- memory ---------------------------------------------------------------------------
    def _keep(self, key: tuple[str, str], features: torch.Tensor) -> None:
        size = tensor_bytes(features)
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= tensor_bytes(old)
        if size > self.max_bytes:
            return
        while self.entries and self.bytes + size > self.max_bytes:
            _, dropped = self.entries.popitem(last=False)
            self.bytes -= tensor_bytes(dropped)
            self.stats["evicted"] += 1
        self.entries[key] = owned(features)
        self.bytes += size
        self.stats["peak_bytes"] = max(self.stats["peak_bytes"], self.bytes)
        self.stats["peak_entries"] = max(self.stats["peak_entries"], len(self.entries))

    # ---- disk -----------------------------------------------------------------------------
    def _path(self, ns: str, image_hash: str) -> Path:
        assert self.disk_dir is not None
        return self.disk_dir / ns / image_hash[:2] / f"{image_hash}.safetensors"

    def _read(self, ns: str, image_hash: str, device: torch.device | None) -> torch.Tensor | None:
        if self.disk_dir is None:
            return None
        path = self._path(ns, image_hash)
        if not path.is_file():
            return None
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=str(device or "cpu"))["features"]
        except Exception as exc:  # a truncated or foreign file: recompute, and overwrite it later
            log.warning(
                "feature cache: ignoring unreadable %s (%s: %s)", path, type(exc).__name__, exc
            )
            return None

    def _write(self, namespace: Namespace, image_hash: str, features: torch.Tensor) -> None:
        from safetensors.torch import save_file

        path = self._path(namespace.id, image_hash)
        path.parent.mkdir(parents=True, exist_ok=True)
        if (
            namespace.id not in self._described
        ):  # what the folder's features were computed with, for people
            (path.parent.parent / "namespace.json").write_text(
                json.dumps(namespace.spec, indent=1, sort_keys=True, default=str) + "\n",
                encoding="utf-8",
            )
            self._described.add(namespace.id)
        tensors = {"features": features.detach().contiguous().cpu()}
        atomic_write(path, lambda tmp: save_file(tensors, tmp))  # unique temporary, renamed
        self.stats["disk_writes"] += 1
