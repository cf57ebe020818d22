"""The base class of every model: :class:`harness.contracts.ModelProtocol` with each optional
capability set to its "not offered" default.

``generate(requests)`` takes a whole list so a model batches itself. It returns one entry per
request, in order: the generated text, or a :class:`harness.errors.SampleError` instance for a
request that could not be served (e.g. its image failed to decode); other requests are unaffected.
A model offering a capability overrides its attribute or method (see the table in
:mod:`harness.contracts`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from harness.contracts import Output, Prepare, PreparedInput, SizeKey, TaskProtocol
from harness.types import Request

if TYPE_CHECKING:
    import torch

    from harness.device import DeviceSpec


class Model(ABC):
    """Base class of the MLLM, the oracle and the replay model."""

    name: str = "model"
    batch_size: int | None = None  # no batching limit to set
    can_share_images: bool = False
    share_images: bool = False
    preprocessor: Prepare | None = None  # no worker-side preprocessing: plain requests
    size_key: Callable[[Request], SizeKey] | None = None  # the engine's default cost
    device: DeviceSpec | None = None  # None: CPU
    profile: bool = False

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[Output]:
        """Answer each request; failures are returned as SampleError, never raised."""

    def generate_prepared(self, batch: Sequence[PreparedInput]) -> list[Output]:
        """Answer prepared inputs (only called when ``preprocessor`` is set)."""
        raise NotImplementedError(f"{type(self).__name__} has no preprocessor")

    def bind_task(self, task: TaskProtocol) -> None:
        """Called by the engine before it runs ``task``; nothing to do by default."""

    def check_tasks(self, tasks: Sequence[TaskProtocol], limit: int | None = None) -> None:
        """Validate against the run's tasks before any work; nothing to check by default."""

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this model's outputs (checkpoint hashes, settings): part of the
        resume key."""
        return {"model": self.name}

    def describe(self) -> dict[str, Any]:
        """A concise description for meta.json and the start-up log."""
        return {"model": self.name}

    def counters(self) -> dict[str, Any]:
        """What the model did, summed over the run (images, images encoded, tokens, seconds per
        step, cache use) for meta.json; nothing by default."""
        return {}

    def start_cold(self) -> None:
        """Forget what earlier calls left for later ones (cached image features, a kept prompt
        prefix), so the next call does all its work (benchmarks time each run cold)."""

    def decode_module(self) -> torch.nn.Module | None:
        """The language model module (a benchmark counts its decode rows); None: none."""
        return None
