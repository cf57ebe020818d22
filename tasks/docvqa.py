"""DocVQA (validation, 5,349 questions on 1,286 pages): ANLS, reported ×100.

Data: lmms-lab/DocVQA (or lmms-lab-encoder/DocVQA), config ``DocVQA``, split ``validation``;
or the original release folder (``format=original``): ``val_v1.0.json`` (``train_``/``test_``
for those splits; ``task.dataset.annotations`` names another file; ``data[]`` records
with ``questionId``, ``question``, ``answers``, ``image`` = a path relative to the folder,
e.g. ``documents/xxx.png``).

Sample ids: the dataset's ``questionId`` (``row<i>`` if a record lacks one). Questions on the
same page share an image key (hub ``docId``; original: the image path).
Prompt: ``{question}\\nAnswer the question using a single word or phrase.``; 32 new tokens.
Protocols (the prediction stripped first, as lmms-eval's task layer does): ``lmms-eval``
(default; ANLS of the best ground truth, 0 below 0.5) and ``lmms-eval-0.2`` (v0.1.0–v0.2.4's
defect: 1.0 when the best ANLS reaches 0.5, else 0.0, a thresholded accuracy).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.errors import HarnessError, SampleError
from harness.metrics.anls import anls, anls_accuracy
from harness.tasks.base import Task
from harness.tasks.loading import (
    answer_list,
    attach_file_image,
    find_file,
    hub_image,
    raise_doc_error,
    read_json,
    require_dir,
    row_id,
    safe_convert,
    text_field,
)
from harness.tasks.prompts import short_answer_prompt

ORIGINAL_SPLITS = {"validation": "val", "val": "val", "test": "test", "train": "train"}
"""Split names (hub's, then the release's) -> the release's file-name part; first when null."""


class DocVQA(Task):
    name = "docvqa"
    label = "DocVQA"
    version = "3"  # 2: ANLS denominator len(s.upper()), as the official script; 3: strip first
    protocols = ("lmms-eval", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 32, "lmms-eval-0.2": 32}
    metric = "anls"
    expected_size = 5349
    formats = ("hub", "original")
    hub_columns = ("questionId", "question", "answers", "image")
    original_keys = ("split", "annotations")
    image_key_column: ClassVar[str] = "docId"  # hub column naming the page its questions share
    annotation_files: ClassVar[tuple[str, ...]] = ("{split}_v1.0.json",)  # {split}: ORIGINAL_SPLITS
    image_fields: ClassVar[tuple[str, ...]] = ("image",)  # original record keys of the image path
    image_dirs: ClassVar[tuple[str, ...]] = ("",)  # where those paths are relative to
    _id = staticmethod(row_id("questionId"))

    def _from_hub(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        doc = dict(row, id=self._id(i, row))
        key = row.get(self.image_key_column)
        doc["images"] = [hub_image(row.get("image"), key=None if key in (None, "") else str(key))]
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        require_dir(root, f"{self.name} release folder")
        ann = self.dataset.get("annotations")
        if not ann:
            split = self.split_choice(ORIGINAL_SPLITS, f"the {self.label} release")
            ann = find_file(
                root,
                [f.format(split=split) for f in self.annotation_files],
                f"{self.label} annotation file",
            )
        else:
            ann = root / ann
        data = read_json(ann, f"{self.label} annotation file")
        records = data.get("data") if isinstance(data, dict) else None
        if not isinstance(records, list):
            raise HarnessError(
                f"{ann}: no 'data' list of records (not a {self.label} annotation file)"
            )
        convert = safe_convert(lambda i, rec: self._from_original(root, i, rec), self._id)
        docs = [convert(i, rec) for i, rec in enumerate(records)]
        return self.with_image_check(docs, root)

    def _from_original(self, root: Path, i: int, rec: dict[str, Any]) -> dict[str, Any]:
        doc = dict(rec, id=self._id(i, rec), _index=i)
        rel = next((rec[f] for f in self.image_fields if rec.get(f)), None)
        if not isinstance(rel, str):
            raise SampleError(f"record {doc['id']}: missing field {self.image_fields[0]!r}")
        paths = [root / d / rel for d in self.image_dirs]
        return attach_file_image(doc, next((p for p in paths if p.is_file()), paths[0]), key=rel)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return short_answer_prompt(text_field(doc, "question"))

    def reference(self, doc: dict[str, Any]) -> str:
        return answer_list(doc, "answers")[0]

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answers = answer_list(doc, "answers")
        metric = anls_accuracy if self.protocol == "lmms-eval-0.2" else anls
        return {"answer": answers, "score": metric(prediction.strip(), answers)}

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        return {"anls": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")}


TASK = DocVQA
