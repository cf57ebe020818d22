"""Requests built, images decoded and preprocessed in ``DataLoader`` workers, one batch ahead.

For a model with a picklable ``preprocessor(request) -> Prepared`` and ``generate_prepared``,
workers run the preprocessor (JPEG decoding, resizing, tokenising) while the device works on
the previous batch; with pinned memory on accelerators. Other models (oracle, replay) get the
plain requests, their images decoded all the same (so a corrupt image fails its sample for every
model). A SampleError in a worker becomes that sample's failure.

The requests come from the plan (:class:`harness.engine.plan.Sample`: each row is read and built
once, by the planner); a row whose request the plan did not keep is read again here. Without
workers the batches are made in this process, the same way, and torch is not imported (an
oracle or replay run never needs it).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import signal
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.contracts import ModelProtocol, Output, Prepare, TaskProtocol
from harness.errors import SampleError
from harness.types import Request

if TYPE_CHECKING:
    import torch

    from harness.engine.plan import Sample

log = logging.getLogger("harness.engine")


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


class Batch(list[Item]):
    """A batch of items; its CPU tensors share one buffer per dtype (see :func:`pack`)."""

    def pin_memory(self, device: Any = None) -> Batch:
        try:
            return Batch(pack(list(self), pin=True))
        except (
            RuntimeError
        ) as exc:  # no page-locked memory for this accelerator: copies stay pageable
            if not _PIN_WARNED:
                _PIN_WARNED.append(True)
                log.warning(
                    "pinned memory unavailable (%s); batches stay in pageable memory",
                    str(exc).splitlines()[0],
                )
            return self


_PIN_WARNED: list[bool] = []


def map_tensors(obj: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    """``obj`` with every tensor inside (dataclass fields, lists, tuples, dicts) replaced by
    ``fn(t)``."""
    import torch

    if isinstance(obj, torch.Tensor):
        return fn(obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: map_tensors(getattr(obj, f.name), fn) for f in dataclasses.fields(obj) if f.init
        }
        return dataclasses.replace(obj, **changes)
    if isinstance(obj, Mapping):
        return {k: map_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not isinstance(obj, str):
        return (
            type(obj)(map_tensors(v, fn) for v in obj)
            if type(obj) in (list, tuple)
            else [map_tensors(v, fn) for v in obj]
        )
    return obj


def pack(obj: Any, pin: bool = False) -> Any:
    """``obj`` with its CPU tensors copied into one contiguous buffer per dtype (optionally in
    page-locked memory), each tensor a view of it.

    A worker hands a batch to the main process through shared memory one storage at a time:
    one buffer instead of one per image makes that hand-over (and pinning) a single step. A
    tensor found in several places (one image's pixels in each question about it) is copied once
    and stays shared.
    """
    import torch

    found: dict[int, torch.Tensor] = {}  # by identity: a tensor in several places is copied once
    map_tensors(obj, lambda t: found.setdefault(id(t), t))
    cpu = [t for t in found.values() if t.device.type == "cpu"]
    if not cpu:
        return obj
    buffers: dict[torch.dtype, torch.Tensor] = {}
    for dtype in dict.fromkeys(t.dtype for t in cpu):
        size = sum(t.numel() for t in cpu if t.dtype == dtype)
        buffers[dtype] = torch.empty(size, dtype=dtype, pin_memory=pin)
    offsets = dict.fromkeys(buffers, 0)

    placed: dict[int, torch.Tensor] = {}

    def place(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "cpu":
            return t
        if id(t) in placed:
            return placed[id(t)]
        start = offsets[t.dtype]
        offsets[t.dtype] = start + t.numel()
        view = buffers[t.dtype][start : start + t.numel()].view(t.shape)
        view.copy_(t)
        placed[id(t)] = view
        return view

    return map_tensors(obj, place)


class SampleSet:
    """Dataset index -> :class:`Item` (a map-style dataset for ``DataLoader``); runs in a worker
    process, or in this one without workers.

    The request is the plan's (``samples``), else built from the task's row. ``reuse`` (per index,
    per image: used again by a later sample, see :func:`harness.engine.plan.reuse_hints`) is set
    on the request for the model's feature cache.

    Without a preprocessor (oracle, replay) each request's images are still decoded (PIL open +
    load, what an MLLM's preprocessing does first), so an undecodable image fails its sample
    for every model alike and ``n``/``failed`` agree across models on the same data.
    """

    def __init__(
        self,
        task: TaskProtocol,
        prepare: Prepare | None,
        memo: int = 4096,
        samples: Mapping[int, Sample] | None = None,
        reuse: Mapping[int, tuple[bool, ...]] | None = None,
    ) -> None:
        self.task, self.prepare, self.memo = task, prepare, memo
        self.samples, self.reuse = samples or {}, reuse or {}
        self._decoded: OrderedDict[str, None] = OrderedDict()  # content hashes known to decode

    def __len__(self) -> int:
        return len(self.task.docs())

    def request(self, index: int) -> Request:
        """The request of sample ``index`` (SampleError when it cannot be built)."""
        sample = self.samples.get(index)
        request = sample.request if sample is not None else None
        if sample is not None:
            sample.request = None  # used once: the scorer needs only the document
        if request is None:
            request = self.task.build_request(self.task.docs()[index])
        hint = self.reuse.get(index)
        if hint is not None and len(hint) == len(request.images):
            request = dataclasses.replace(request, reuse=hint)
        return request

    def __getitem__(self, index: int) -> Item:
        try:
            request = self.request(index)
        except SampleError as exc:
            return Item(index, None, exc)
        if self.prepare is None:
            try:
                self.check_images(request)
            except SampleError as exc:
                return Item(index, request.prompt, exc)
            return Item(index, request.prompt, request)
        try:
            return Item(index, request.prompt, self.prepare(request))
        except SampleError as exc:
            return Item(index, request.prompt, exc)

    def check_images(self, request: Request) -> None:
        """Decode each image of ``request`` (SampleError when one fails); an image whose encoded
        bytes decoded before is not decoded again."""
        for ref in request.images:
            try:
                digest: str | None = ref.content_hash()
            except (OSError, SampleError):  # an unreadable file or cell: load() names it
                digest = None
            if digest is not None and digest in self._decoded:
                self._decoded.move_to_end(digest)
                continue
            ref.load()
            if digest is not None and self.memo > 0:
                self._decoded[digest] = None
                while len(self._decoded) > self.memo:
                    self._decoded.popitem(last=False)


def _collate(items: list[Item]) -> Batch:
    return Batch(items)


def _collate_packed(items: list[Item]) -> Batch:
    return Batch(pack(list(items)))


def _worker_init(_: int, parent: int | None = None) -> None:
    from harness.engine.lifetime import die_with_parent

    die_with_parent(parent)  # a SIGKILLed run leaves no worker behind
    # Ctrl-C reaches the whole process group; the main process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def preparer(model: ModelProtocol) -> tuple[Prepare | None, Callable[[list[Any]], list[Output]]]:
    """The model's (preprocessor, batch call): prepared inputs when it offers them, else
    requests."""
    if model.preprocessor is not None:
        return model.preprocessor, model.generate_prepared
    return None, model.generate


def in_process(
    dataset: SampleSet, batches: Sequence[list[int]], pin_memory: bool
) -> Iterator[Batch]:
    """The batches made in this process, as ``DataLoader`` without workers makes them."""
    for indices in batches:
        batch = _collate([dataset[i] for i in indices])
        yield batch.pin_memory() if pin_memory else batch


def batch_stream(
    task: TaskProtocol,
    batches: Sequence[list[int]],
    prepare: Prepare | None,
    num_workers: int = 0,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
    samples: Mapping[int, Sample] | None = None,
    reuse: Mapping[int, tuple[bool, ...]] | None = None,
) -> Iterator[Batch]:
    """Yield each batch's items, in the order of ``batches``: made by ``num_workers``
    ``DataLoader`` workers, or in this process (no torch import) when there are none."""
    if not batches:
        return iter(())
    dataset = SampleSet(task, prepare, samples=samples, reuse=reuse)
    workers = num_workers  # plain requests too: their images are decoded there
    if not workers:
        return in_process(dataset, batches, pin_memory and prepare is not None)
    from torch.utils.data import DataLoader

    loader: DataLoader[Item] = DataLoader(
        dataset,  # type: ignore[arg-type]  # map-style: __getitem__ and __len__
        batch_sampler=list(batches),
        collate_fn=_collate_packed if workers else _collate,
        num_workers=workers,
        pin_memory=pin_memory and prepare is not None,
        prefetch_factor=prefetch_factor if workers else None,
        worker_init_fn=functools.partial(_worker_init, parent=os.getpid()) if workers else None,
    )
    return iter(loader)
