"""A newcomer's benchmark, kept outside the package: "how many squares?" over a hub-layout set.

Used by ``tests/test_extending.py`` through ``task.adapter=toy_count:ToyCount`` (this folder on
``PYTHONPATH``) and its own ``conf/task/toy.yaml``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.metrics.exact import exact_match
from harness.tasks.base import Task
from harness.tasks.loading import hub_image, row_id, text_field


class ToyCount(Task):
    name = "toy"
    label = "Toy"
    version = "1"
    metric = "accuracy"
    hub_columns = ("question", "answer", "image")
    _id = staticmethod(row_id("qid"))

    def _from_hub(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        return dict(row, id=self._id(i, row), _index=i, images=[hub_image(row.get("image"))])

    def prompt(self, doc: dict[str, Any]) -> str:
        return f"{text_field(doc, 'question')}\nAnswer with a number."

    def reference(self, doc: dict[str, Any]) -> str:
        return text_field(doc, "answer")

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answer = text_field(doc, "answer")
        return {"answer": answer, "score": float(exact_match(prediction.strip(), answer))}

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return {"accuracy": 100.0 * sum(r["score"] for r in records) / max(1, len(records))}
