"""The one interface every model implements.

``generate(requests)`` takes a whole list so a model batches itself. It returns one entry per
request, in order: the generated text, or a :class:`harness.errors.SampleError` instance for a
request that could not be served (e.g. its image failed to decode); other requests are unaffected.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from harness.errors import SampleError
from harness.types import Request

Output = "str | SampleError"


class Model(ABC):
    """Base class of the MLLM, the oracle and the replay model."""

    name: str = "model"

    @abstractmethod
    def generate(self, requests: Sequence[Request]) -> list[str | SampleError]:
        """Answer each request; failures are returned as SampleError, never raised."""

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this model's outputs (checkpoint hashes, settings): part of the resume key."""
        return {"model": self.name}

    def describe(self) -> dict[str, Any]:
        """A concise description for meta.json and the start-up log."""
        return {"model": self.name}
