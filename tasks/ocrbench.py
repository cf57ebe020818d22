"""OCRBench (test, 1,000 questions): containment, reported in points out of 1000.

Data: echo840/OCRBench, default config, split ``test`` (``dataset`` = source set, ``question``,
``question_type`` = one of the ten categories below, ``answer`` = list of strings, ``image``);
or the original release (``format=original``): ``OCRBench.json`` (records ``dataset_name``,
``image_path``, ``question``, ``answers``, ``type``) with the images under
``OCRBench_Images/`` (or directly under the folder).

Sample ids: the row index as a string (the hub data has no id field). Image keys: the
original's ``image_path`` (none in the hub schema).
Prompt: the question alone (stripped).
Protocols (the prediction stripped first; 128 new tokens): ``lmms-eval`` (default, today's
main: full-width ASCII folded outside HME100k), ``lmms-eval-0.2`` (no folding, and the
prediction lowercased before the HME100k branch: v0.2.0–v0.7.1's defect) and ``official``
(no folding); see :func:`harness.metrics.containment.ocrbench_match`.
Metrics: ``score`` = 1000 × the share of samples right (on the full set, the official points
total), ``total`` = the raw points, and for each category (snake-cased) its raw points and
``<category>_n`` its number of samples, ``text_recognition`` summing the six recognition ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.metrics.containment import ocrbench_match
from harness.tasks.base import Task
from harness.tasks.loading import (
    answer_list,
    attach_file_image,
    hub_image,
    raise_doc_error,
    read_json,
    require_dir,
    row_id,
    safe_convert,
    text_field,
)

RECOGNITION = (
    "Regular Text Recognition",
    "Irregular Text Recognition",
    "Artistic Text Recognition",
    "Handwriting Recognition",
    "Digit String Recognition",
    "Non-Semantic Text Recognition",
)
CATEGORIES = {
    **{c: 50 for c in RECOGNITION},
    "Scene Text-centric VQA": 200,
    "Doc-oriented VQA": 200,
    "Key Information Extraction": 200,
    "Handwritten Mathematical Expression Recognition": 100,
}
"""The ten question types and their full-benchmark sizes."""


def slug(category: str) -> str:
    """A category name as a metrics key.

    >>> slug("Scene Text-centric VQA")
    'scene_text_centric_vqa'
    """
    return re.sub(r"[^a-z0-9]+", "_", category.lower()).strip("_")


class OCRBench(Task):
    name = "ocrbench"
    label = "OCRBench"
    version = "2"  # 2: no full-width folding in the HME100k branch (as lmms-eval)
    metric = "score"
    max_value = 1000.0
    expected_size = 1000
    protocols = ("lmms-eval", "official", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 128, "lmms-eval-0.2": 128, "official": 128}
    formats = ("hub", "original")
    hub_columns = ("dataset", "question", "question_type", "answer", "image")
    original_keys = ("split", "annotations")
    _id = staticmethod(row_id(None))

    def _from_hub(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        return dict(row, id=self._id(i, row), images=[hub_image(row.get("image"))])

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        require_dir(root, "OCRBench release folder")
        self.split_choice({"test": None}, "the OCRBench release (one set)")
        ann = root / (self.dataset.get("annotations") or "OCRBench.json")
        data = read_json(ann, "OCRBench annotation file")
        if not isinstance(data, list):
            raise HarnessError(f"{ann}: expected a list of records (not OCRBench.json)")
        images = root / "OCRBench_Images" if (root / "OCRBench_Images").is_dir() else root

        def convert(i: int, rec: dict[str, Any]) -> dict[str, Any]:
            doc = {
                "id": str(i),
                "_index": i,
                "dataset": rec.get("dataset_name"),
                "question": rec.get("question"),
                "question_type": rec.get("type"),
                "answer": rec.get("answers"),
            }
            rel = text_field(rec, "image_path")
            return attach_file_image(doc, images / rel.removeprefix("./"), key=rel)

        safe = safe_convert(convert, self._id)
        docs = [safe(i, rec) for i, rec in enumerate(data)]
        return self.with_image_check(docs, images)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return text_field(doc, "question").strip()

    def reference(self, doc: dict[str, Any]) -> str:
        return answer_list(doc, "answer", allow_single=True)[0]

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answers = answer_list(doc, "answer", allow_single=True)
        source = doc.get("dataset")
        value = ocrbench_match(
            prediction.strip(),
            answers,
            str(source),
            fold_width=self.protocol == "lmms-eval",
            lower_first=self.protocol == "lmms-eval-0.2",
        )
        return {
            "answer": answers,
            "score": value,
            "category": doc.get("question_type"),
            "source": source,
        }

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        points: dict[str, float] = {}
        counts: dict[str, int] = {}
        for r in records:
            cat = str(r.get("category"))
            points[cat] = points.get(cat, 0.0) + r["score"]
            counts[cat] = counts.get(cat, 0) + 1
        total = sum(points.values())
        out: dict[str, Any] = {
            "score": 1000.0 * total / n if n else float("nan"),
            "total": _int(total),
            "n": n,
            "text_recognition": _int(sum(points.get(c, 0.0) for c in RECOGNITION)),
            "text_recognition_n": sum(counts.get(c, 0) for c in RECOGNITION),
        }
        for cat in [*CATEGORIES, *(c for c in counts if c not in CATEGORIES)]:
            out[slug(cat)] = _int(points.get(cat, 0.0))
            out[f"{slug(cat)}_n"] = counts.get(cat, 0)
        return out


def _int(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


TASK = OCRBench
