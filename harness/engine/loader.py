"""Requests built, images decoded and preprocessed in ``DataLoader`` workers, one batch ahead.

For a model with a picklable ``preprocessor(request) -> Prepared`` and ``generate_prepared``,
workers run the preprocessor (JPEG decoding, resizing, tokenising) while the device works on
the previous batch; with pinned memory on accelerators. Other models (oracle, replay) get the
plain requests, built in-process. A SampleError in a worker becomes that sample's failure.
"""
from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from harness.errors import SampleError
from harness.types import Request

Prepare = Callable[[Request], Any]


@dataclass
class Item:
    """One sample on its way to the model: its dataset index, prompt, and the model's input
    (a Prepared, a Request) or the SampleError that stopped it."""

    index: int
    prompt: str | None
    payload: Any

    @property
    def failed(self) -> bool:
        return isinstance(self.payload, SampleError)

    def pin_memory(self) -> Item:
        self.payload = pin(self.payload)
        return self


def pin(obj: Any) -> Any:
    """``obj`` with its CPU tensors in page-locked memory (for faster, asynchronous copies)."""
    if isinstance(obj, torch.Tensor):
        return obj.pin_memory() if obj.device.type == "cpu" else obj
    if hasattr(obj, "pin_memory") and not isinstance(obj, type):
        return obj.pin_memory()
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.replace(obj, **{f.name: pin(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                                           if f.init})
    if isinstance(obj, Mapping):
        return {k: pin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(pin(v) for v in obj)
    return obj


class SampleSet(Dataset):
    """Dataset index -> :class:`Item`; runs in a worker process."""

    def __init__(self, task, prepare: Prepare | None):
        self.task, self.prepare = task, prepare

    def __len__(self) -> int:
        return len(self.task.docs())

    def __getitem__(self, index: int) -> Item:
        try:
            request = self.task.build_request(self.task.docs()[index])
        except SampleError as exc:
            return Item(index, None, exc)
        if self.prepare is None:
            return Item(index, request.prompt, request)
        try:
            return Item(index, request.prompt, self.prepare(request))
        except SampleError as exc:
            return Item(index, request.prompt, exc)


def _collate(items: list[Item]) -> list[Item]:
    return list(items)


def _worker_init(_: int) -> None:
    # Ctrl-C reaches the whole process group; the main process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def preparer(model) -> tuple[Prepare | None, Callable[[list], list]]:
    """The model's (preprocessor, batch call): prepared inputs when it offers them, else requests."""
    prepare, gen = getattr(model, "preprocessor", None), getattr(model, "generate_prepared", None)
    if callable(prepare) and callable(gen):
        return prepare, gen
    return None, model.generate


def batch_stream(task, batches: Sequence[list[int]], prepare: Prepare | None, num_workers: int = 0,
                 pin_memory: bool = False, prefetch_factor: int = 2) -> Iterator[list[Item]]:
    """Yield each batch's items, in the order of ``batches``."""
    if not batches:
        return iter(())
    workers = num_workers if prepare is not None else 0  # plain requests: nothing to overlap
    loader = DataLoader(SampleSet(task, prepare), batch_sampler=list(batches), collate_fn=_collate,
                        num_workers=workers, pin_memory=pin_memory and prepare is not None,
                        prefetch_factor=prefetch_factor if workers else None,
                        worker_init_fn=_worker_init if workers else None)
    return iter(loader)
