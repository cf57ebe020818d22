"""model=oracle gives each request its document's reference and lets it go once given: what it
holds shrinks as the run goes on; a request asked again (or an unknown id) is still answered
(or refused) correctly."""

from __future__ import annotations

from harness.errors import SampleError
from harness.models.oracle import OracleModel
from harness.types import Request


class Task:
    name = "toy"

    def __init__(self, n: int) -> None:
        self.rows = [{"id": f"q{i}", "answer": f"A{i}"} for i in range(n)]
        self.reads = 0

    def docs(self):
        task = self

        class Docs:
            def __len__(self):
                return len(task.rows)

            def __getitem__(self, i):
                task.reads += 1
                return task.rows[i]

        return Docs()

    def reference(self, doc):
        if doc["id"] == "q3":
            raise SampleError("no answer recorded")
        return doc["answer"]


def test_references_are_dropped_once_given_and_found_again_when_asked_twice():
    task, model = Task(50), OracleModel()
    model.bind_task(task)
    ids = [f"q{i}" for i in reversed(range(50))]  # the last first: one scan reads every row
    out = model.generate([Request(id=i, prompt="p") for i in ids])
    assert out[:2] == ["A49", "A48"] and isinstance(out[46], SampleError)
    assert task.reads == 50  # each row read once
    assert model._refs == {}  # nothing kept once every sample is answered
    assert model.generate([Request(id="q7", prompt="p")]) == ["A7"]  # asked again: found again
    missing = model.generate([Request(id="nope", prompt="p")])[0]
    assert isinstance(missing, SampleError) and "not in toy's data" in str(missing)
