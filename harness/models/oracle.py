"""``model=oracle``: answers each request's ground truth, so every metric must reach its maximum."""
from __future__ import annotations

from collections.abc import Sequence

from harness.errors import SampleError
from harness.models.base import Model
from harness.types import Request


class OracleModel(Model):
    name = "oracle"

    def generate(self, requests: Sequence[Request]) -> list[str | SampleError]:
        out: list[str | SampleError] = []
        for r in requests:
            if r.reference is None:
                out.append(SampleError(f"oracle: request {r.id!r} carries no reference answer"))
            else:
                out.append(r.reference)
        return out
