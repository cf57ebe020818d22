"""Calling the model on a batch: the largest batch that fits, and per-sample isolation of errors.

``batch_size=auto`` starts at a cap (``AUTO_CAP`` on accelerators, ``AUTO_CAP_CPU`` on CPU,
where memory never raises and larger batches stop paying) and halves whenever the device runs
out of memory, retrying the same samples, so no work is lost; batches are sorted heaviest
first, so the size found on the first batch fits the rest. A fixed batch size that runs out of
memory is halved the same way, with a warning. A SampleError raised for a whole batch is
narrowed down to the samples that cause it.
"""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from harness.contracts import ModelProtocol, Output
from harness.errors import HarnessError, SampleError

log = logging.getLogger("harness.engine")

AUTO_CAP = 64
AUTO_CAP_CPU = 16


def is_oom(exc: BaseException) -> bool:
    """True for an out-of-memory error of any device (cuda, npu, mps)."""
    torch = sys.modules.get("torch")  # a model that raised a torch error has imported it
    oom_type = getattr(torch, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def free_device_memory() -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is None:  # no device memory to free
        return
    for name in ("cuda", "npu", "mps"):
        mod = getattr(torch, name, None)
        try:
            if mod is not None and mod.is_available():
                mod.empty_cache()
        except Exception:  # a backend present but unusable
            pass


def start_size(batch_size: int | str, device_type: str) -> tuple[int, bool]:
    """(first batch size, auto?) from the setting.

    >>> start_size("auto", "cuda"), start_size("auto", "cpu"), start_size(8, "cuda")
    ((64, True), (16, True), (8, False))
    """
    if str(batch_size) == "auto":
        return (AUTO_CAP_CPU if device_type == "cpu" else AUTO_CAP), True
    size = int(batch_size)
    if size < 1:
        raise HarnessError(f"batch_size must be a positive integer or auto, got {batch_size!r}")
    return size, False


class BatchCaller:
    """Calls ``fn(payloads) -> outputs`` in chunks of the current size; counts model time."""

    def __init__(
        self,
        fn: Callable[[list[Any]], list[Output]],
        size: int,
        auto: bool,
        model: ModelProtocol | None = None,
    ) -> None:
        self.fn, self.size, self.auto, self.model = fn, size, auto, model
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, payloads: list[Any]) -> list[Output]:
        out: list[Output] = []
        i = 0
        while i < len(payloads):
            chunk = payloads[i : i + self.size]
            try:
                out.extend(self._isolated(chunk))
            except Exception as exc:
                if not is_oom(exc):
                    raise
                oom = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            else:
                i += len(chunk)
                continue
            self._shrink(len(chunk), oom)
        return out

    def _shrink(self, failed_size: int, why: str) -> None:
        free_device_memory()
        if failed_size <= 1:
            raise HarnessError(
                f"out of memory with batch size 1 ({why}); use a smaller dtype, a shorter "
                f"max_new_tokens or a larger device"
            )
        self.size = max(1, failed_size // 2)
        if self.model is not None and self.model.batch_size is not None:
            self.model.batch_size = self.size
        level = logging.INFO if self.auto else logging.WARNING
        log.log(
            level,
            "batch of %d ran out of memory; continuing with batch size %d",
            failed_size,
            self.size,
        )

    def _isolated(self, chunk: list[Any]) -> list[Output]:
        try:
            outs = self._timed(chunk)
        except SampleError as exc:
            if len(chunk) == 1:
                return [exc]
            return [o for p in chunk for o in self._isolated([p])]
        if len(outs) != len(chunk):
            raise HarnessError(
                f"model returned {len(outs)} outputs for a batch of {len(chunk)} requests"
            )
        return outs

    def _timed(self, chunk: list[Any]) -> list[Output]:
        t0 = time.perf_counter()
        try:
            return list(self.fn(chunk))
        finally:
            self.seconds += time.perf_counter() - t0
            self.calls += 1
