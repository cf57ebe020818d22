"""``model=oracle``: answers each request's ground truth, so every metric must reach its maximum.

The references never travel in requests: the engine binds the oracle to each task
(:meth:`OracleModel.bind_task`) and the oracle asks the task for ``task.reference(doc)``.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.contracts import Doc, Output, TaskProtocol
from harness.errors import SampleError
from harness.models.base import Model
from harness.types import Request


class OracleModel(Model):
    name = "oracle"

    def __init__(self) -> None:
        super().__init__()
        self.task: TaskProtocol | None = None
        self._index: dict[str, int] = {}  # document id -> position, filled as far as needed
        self._scanned = 0

    def bind_task(self, task: TaskProtocol) -> None:
        self.task, self._index, self._scanned = task, {}, 0

    def _doc(self, task: TaskProtocol, doc_id: str) -> Doc | None:
        """The document ``doc_id``, scanning the task's documents only as far as needed."""
        docs = task.docs()
        while doc_id not in self._index and self._scanned < len(docs):
            self._index.setdefault(str(docs[self._scanned]["id"]), self._scanned)
            self._scanned += 1
        i = self._index.get(doc_id)
        return None if i is None else docs[i]

    def answer(self, request: Request) -> Output:
        if self.task is None:
            return SampleError(f"oracle: request {request.id!r} comes before any task was bound")
        doc = self._doc(self.task, request.id)
        if doc is None:
            return SampleError(f"oracle: request {request.id!r} is not in {self.task.name}'s data")
        try:
            return self.task.reference(doc)
        except SampleError as exc:
            return exc

    def generate(self, requests: Sequence[Request]) -> list[Output]:
        return [self.answer(r) for r in requests]
