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
        # document id -> its reference (or why it has none), filled as far as the scan went:
        # each row is read once, by the scan, not again to answer
        self._refs: dict[str, Output] = {}
        self._scanned = 0

    def bind_task(self, task: TaskProtocol) -> None:
        self.task, self._refs, self._scanned = task, {}, 0

    def _reference(self, task: TaskProtocol, doc_id: str) -> Output | None:
        """The reference of document ``doc_id`` (a SampleError where the task cannot give one),
        scanning the task's documents only as far as needed; None: no such document."""
        docs = task.docs()
        while doc_id not in self._refs and self._scanned < len(docs):
            doc: Doc = docs[self._scanned]
            self._scanned += 1
            key = str(doc["id"])
            if key not in self._refs:  # the first of two equal ids (the engine refuses those)
                try:
                    self._refs[key] = task.reference(doc)
                except SampleError as exc:
                    self._refs[key] = exc
        return self._refs.get(doc_id)

    def answer(self, request: Request) -> Output:
        """The reference of ``request``'s document; it is dropped once given (the engine asks for
        each sample once, so what the oracle holds shrinks as the run goes on instead of growing
        to the whole set). A request asked again scans the documents again."""
        if self.task is None:
            return SampleError(f"oracle: request {request.id!r} comes before any task was bound")
        ref = self._reference(self.task, request.id)
        if ref is None and self._scanned > 0:  # given (and dropped) before, or not in the data
            self._refs, self._scanned = {}, 0
            ref = self._reference(self.task, request.id)
        if ref is None:
            return SampleError(f"oracle: request {request.id!r} is not in {self.task.name}'s data")
        del self._refs[request.id]
        return ref

    def generate(self, requests: Sequence[Request]) -> list[Output]:
        return [self.answer(r) for r in requests]
