"""Data-loader workers hand batches over through shared memory (``/dev/shm`` on Linux); where it
is small (Docker's default is 64 MiB) they die with a bus error or fail to write. The engine
checks its size before starting workers and, when it is too small or a worker fails that way,
loads in-process instead, with one warning line (answers are the same, only slower).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("harness.engine")

SHM_DIR = "/dev/shm"
BATCH_BYTES = 64 << 20  # shared memory one batch in flight may take (images of a batch of 16)
MIN_BYTES = 256 << 20
_SIGNS = (
    "shared memory",
    "shm",
    "bus error",
    "no space left on device",
    "unable to write to file",
    "unable to open",
    "unable to mmap",
)
_warned: list[str] = []


def shm_free_bytes(folder: str = SHM_DIR) -> int | None:
    """Free bytes of the shared-memory file system; None where there is none to measure."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def shm_needed(workers: int, prefetch_factor: int) -> int:
    """Bytes the workers may hold in shared memory at once.

    >>> shm_needed(1, 2) == MIN_BYTES, shm_needed(4, 2) == 8 * BATCH_BYTES
    (True, True)
    """
    return max(MIN_BYTES, workers * max(1, prefetch_factor) * BATCH_BYTES)


def _warn(text: str) -> None:
    if text not in _warned:
        _warned.append(text)
        log.warning("%s", text)


def workers_for_shm(workers: int, prefetch_factor: int = 2, free: int | None = -1) -> int:
    """``workers``, or 0 (in-process loading, one warning) when shared memory is too small.

    >>> workers_for_shm(2, 2, free=1 << 40), workers_for_shm(0, 2, free=0)
    (2, 0)
    """
    if workers <= 0:
        return 0
    free = shm_free_bytes() if free == -1 else free
    need = shm_needed(workers, prefetch_factor)
    if free is None or free >= need:
        return workers
    _warn(
        f"shared memory ({SHM_DIR}) has {free / 2**20:.0f} MiB free, {need / 2**20:.0f} MiB "
        f"needed for {workers} data-loader worker(s): loading in-process instead (slower; give "
        f"the container more, "
        f"e.g. docker run --shm-size=1g)"
    )
    return 0


def is_shm_failure(exc: BaseException) -> bool:
    """A data-loader failure caused by shared memory (a worker's bus error, a full /dev/shm).

    >>> is_shm_failure(RuntimeError("DataLoader worker (pid 7) is killed by signal: Bus error."))
    True
    >>> is_shm_failure(ValueError("bad"))
    False
    """
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, OSError)) and any(s in text for s in _SIGNS)


def fallback_stream(make: Callable[[int, int], Iterator[Any]], workers: int) -> Iterator[Any]:
    """Batches from ``make(start, workers)``; if the workers fail on shared memory, the rest
    (from the batch that failed) come from ``make(k, 0)``, loaded in-process."""
    return _follow(make(0, workers), make, workers)  # the workers start now


def _follow(
    stream: Iterator[Any], make: Callable[[int, int], Iterator[Any]], workers: int
) -> Iterator[Any]:
    done = 0
    while True:
        try:
            item = next(stream)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 (only shared-memory failures are handled)
            if workers <= 0 or not is_shm_failure(exc):
                raise
            _warn(
                f"data-loader workers failed on shared memory "
                f"({str(exc).splitlines()[0][:120]}): loading "
                f"in-process from here on (give the container more, e.g. docker run --shm-size=1g)"
            )
            del stream
            workers, stream = 0, make(done, 0)
            continue
        done += 1
        yield item
