"""Test doubles for the engine: a tiny in-memory task and a deterministic two-stage model.

``FakeMLLM`` has the real MLLM's shape: a picklable ``preprocessor(request) -> Prepared`` that
decodes the images (so it runs in DataLoader workers) and ``generate_prepared(batch)``. Its
answer depends only on the request, so any batching, sharding or resume gives the same text.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import time
from dataclasses import dataclass, field

import torch
from PIL import Image

from harness.errors import SampleError
from harness.models.base import Model
from harness.tasks.base import Task
from harness.types import ImageRef, Request


def png(width: int, height: int, color: str = "white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def answer_for(request_id: str, reference: str | None) -> str:
    """Right for two ids in three, a wrong id-specific answer otherwise."""
    digest = hashlib.sha1(request_id.encode()).hexdigest()
    return reference or "" if int(digest, 16) % 3 else f"wrong-{digest[:6]}"


class ToyTask(Task):
    """Exact-match QA over in-memory docs; ``bad`` ids have no question (build fails)."""

    name = "toy"
    label = "Toy"
    version = "1"
    metric = "accuracy"

    def __init__(
        self,
        n: int = 20,
        sizes: tuple[tuple[int, int], ...] = ((8, 8), (32, 16), (64, 64)),
        bad: tuple[str, ...] = (),
        corrupt: tuple[str, ...] = (),
        name: str = "toy",
    ):
        super().__init__({})
        self.name = name
        self._n, self._sizes, self._bad, self._corrupt = n, sizes, set(bad), set(corrupt)

    def load(self):
        docs = []
        for i in range(self._n):
            w, h = self._sizes[i % len(self._sizes)]
            data = b"\x89PNG broken" if f"q{i}" in self._corrupt else png(w, h)
            docs.append(
                {
                    "id": f"q{i}",
                    "_index": i,
                    "question": None if f"q{i}" in self._bad else "x" * (i % 7 + 1),
                    "answer": f"a{i}",
                    "images": [ImageRef(data=data, key=f"img{i % 5}")],
                }
            )
        return docs

    def prompt(self, doc):
        if doc["question"] is None:
            raise SampleError(f"record {doc['id']} is missing field 'question'")
        return f"Q: {doc['question']}"

    def reference(self, doc):
        return doc["answer"]

    def score(self, doc, prediction):
        return {"answer": doc["answer"], "score": float(prediction == doc["answer"])}

    def aggregate(self, records):
        return {"accuracy": 100.0 * sum(r["score"] for r in records) / len(records)}


@dataclass
class FakePrepared:
    id: str
    sizes: list[tuple[int, int]] = field(default_factory=list)
    pixels: torch.Tensor | None = None


@dataclass
class FakePreprocessor:
    """Decodes every image (really); ids in ``fail`` raise SampleError, as a corrupt file would."""

    fail: tuple[str, ...] = ()

    def __call__(self, request: Request) -> FakePrepared:
        if request.id in self.fail:
            raise SampleError(f"preprocessing failed for {request.id}")
        images = [ref.load() for ref in request.images]
        return FakePrepared(
            request.id, [im.size for im in images], torch.zeros(len(images), 3, 2, 2)
        )


class FakeMLLM(Model):
    """``delay`` seconds per batch emulate device time; ``sigint_on_call`` sends SIGINT to this
    process during that call (1-based), as a user's Ctrl-C would."""

    name = "fake"

    def __init__(
        self,
        delay: float = 0.0,
        fail: tuple[str, ...] = (),
        sigint_on_call: int | None = None,
        max_fit: int | None = None,
        batch_errors: tuple[str, ...] = (),
    ):
        super().__init__()
        self.preprocessor = FakePreprocessor(tuple(fail))
        self.delay, self.sigint_on_call, self.max_fit = delay, sigint_on_call, max_fit
        self.batch_errors = set(batch_errors)
        self.batch_size = 16
        self.calls: list[list[str]] = []
        self.references: dict[str, str] = {}

    def bind_task(self, task):
        """The answers it is right about come from the task, as the oracle's do."""
        self.references = {}
        for doc in task.docs():
            try:
                self.references[str(doc["id"])] = task.reference(doc)
            except SampleError:
                pass

    def generate_prepared(self, batch):
        if self.max_fit is not None and len(batch) > self.max_fit:
            raise torch.OutOfMemoryError(
                f"CUDA out of memory (fake: batch {len(batch)} > {self.max_fit})"
            )
        if any(p.id in self.batch_errors for p in batch):
            raise SampleError("a sample of this batch broke the model")
        self.calls.append([p.id for p in batch])
        if self.sigint_on_call == len(self.calls):
            os.kill(os.getpid(), signal.SIGINT)
        if self.delay:
            time.sleep(self.delay)
        return [answer_for(p.id, self.references.get(p.id)) for p in batch]

    def generate(self, requests):
        return self.generate_prepared([self.preprocessor(r) for r in requests])

    def fingerprint(self):
        return {"model": self.name}
