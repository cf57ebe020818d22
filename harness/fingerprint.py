"""Fingerprints: short content hashes of checkpoints, files and configs, for meta.json and resume
keys."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def file_sha256(path: str | Path, limit: int | None = None) -> str:
    """SHA-256 of a file's bytes (the first ``limit`` bytes plus its size when ``limit`` is set)."""
    h = hashlib.sha256()
    p = Path(path)
    with p.open("rb") as f:
        read = 0
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            read += len(chunk)
            if limit is not None and read >= limit:
                h.update(str(p.stat().st_size).encode())
                break
    return h.hexdigest()[:16]


def dir_fingerprint(path: str | Path, limit: int | None = 64 << 20) -> str:
    """Fingerprint of a checkpoint folder: names, sizes and (up to ``limit`` bytes of) each file.

    Large weight files are hashed on their first 64 MiB plus size by default: enough to tell
    checkpoints apart, fast enough to run at every start.
    """
    p = Path(path)
    if p.is_file():
        return file_sha256(p, limit)
    h = hashlib.sha256()
    for f in sorted(x for x in p.rglob("*") if x.is_file() and not x.name.startswith(".")):
        h.update(str(f.relative_to(p)).encode())
        h.update(file_sha256(f, limit).encode())
    return h.hexdigest()[:16]


def obj_fingerprint(obj: Any) -> str:
    """Stable hash of a JSON-serialisable object (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
