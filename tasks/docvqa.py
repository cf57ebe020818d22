"""DocVQA (validation, 5,349 questions): ANLS. Hub: lmms-lab/DocVQA config DocVQA; also the
original ``val_v1.0.json`` + images release."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics.anls import anls
from harness.types import ImageRef
from tasks.base import Task
from tasks.loading import LazyDocs, hub_image, load_hub, require

SHORT_ANSWER = "Answer the question using a single word or phrase."


class DocVQA(Task):
    name = "docvqa"
    label = "DocVQA"
    version = "1"
    metric = "anls"
    expected_size = 5349
    formats = ("hub", "original")

    def load(self):
        ds = self.dataset
        if ds.get("format", "hub") == "original":
            return self._load_original(Path(ds["path"]))
        rows = load_hub(ds["path"], ds.get("name"), ds.get("split", "validation"))
        return LazyDocs(rows, self._from_hub)

    @staticmethod
    def _from_hub(i: int, row: dict) -> dict:
        qid = row.get("questionId")
        doc = dict(row, id=str(qid) if qid is not None else f"row{i}")
        try:
            doc["images"] = [hub_image(row.get("image"), key=row.get("docId") and str(row.get("docId")))]
        except SampleError as exc:
            doc["error"] = str(exc)
        return doc

    def _load_original(self, root: Path):
        ann = root / self.dataset.get("annotations", "val_v1.0.json")
        if not ann.is_file():
            raise HarnessError(f"{self.name}: annotation file not found: {ann} (expected the release's val_v1.0.json)")
        try:
            data = json.loads(ann.read_text(encoding="utf-8"))["data"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise HarnessError(f"{ann}: not a DocVQA annotation file ({exc})") from None
        docs = []
        for i, rec in enumerate(data):
            doc = dict(rec, id=str(rec.get("questionId", f"row{i}")), _index=i)
            if rec.get("image"):
                doc["images"] = [ImageRef(path=str(root / rec["image"]), key=str(rec["image"]))]
            else:
                doc["error"] = "record is missing field 'image'"
            docs.append(doc)
        return docs

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict) -> str:
        if doc.get("error"):
            raise SampleError(doc["error"])
        require(doc, "question")
        return f"{doc['question']}\n{SHORT_ANSWER}"

    def _answers(self, doc: dict) -> list[str]:
        answers = doc.get("answers")
        if not isinstance(answers, (list, tuple)) or not answers or not all(isinstance(a, str) for a in answers):
            raise SampleError(f"record {doc['id']}: 'answers' is not a non-empty list of strings: {answers!r}")
        return list(answers)

    def reference(self, doc: dict) -> str:
        return self._answers(doc)[0]

    def score(self, doc: dict, prediction: str) -> dict[str, Any]:
        answers = self._answers(doc)
        return {"answer": answers, "score": anls(prediction, answers)}

    def aggregate(self, records) -> dict[str, Any]:
        n = len(records)
        return {"anls": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")}


TASK = DocVQA
