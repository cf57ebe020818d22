"""OK-VQA (val2014, 5,046 questions): VQA soft accuracy over ten human answers, reported ×100.

Data: lmms-lab/OK-VQA (or lmms-lab-encoder/OK-VQA), default config, split ``val2014``
(``question_id``, ``image``, ``question``, ``answers`` = ten strings); or the original release
(``format=original``): ``OpenEnded_mscoco_<split>_questions.json`` +
``mscoco_<split>_annotations.json`` (joined on ``question_id``; each answer's ``answer``) and
the COCO ``<split>/`` images folder (``COCO_<split>_%012d.jpg``); split val2014 when null;
``task.dataset.questions``, ``annotations`` and ``image_dir`` name other files.

Sample ids: the dataset's ``question_id``. Image keys: the COCO ``image_id`` where the data
has one (the hub schema does not).
Prompt (lmms-eval): ``{question}\\nWhen the provided information is insufficient, respond with
'Unanswerable'.\\nAnswer the question using a single word or phrase.``
Protocols: ``lmms-eval`` (default; ground truths always normalised; 1,024 new tokens, the
LLaVA default, as lmms-eval's YAML sets none), ``lmms-eval-0.2`` (identical: OK-VQA did not
change) and ``official`` (the VQA tool: ground truths get the punctuation step only, and only
when they disagree; 16 new tokens); see :mod:`harness.metrics.vqa`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics.vqa import vqa_accuracy
from harness.tasks.base import LMMS_EVAL_LLAVA_DEFAULT_TOKENS, Task
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
from harness.tasks.prompts import SHORT_ANSWER

UNANSWERABLE = "When the provided information is insufficient, respond with 'Unanswerable'."
QUESTIONS_FILE = "OpenEnded_mscoco_{split}_questions.json"  # original release: one per split
ANNOTATIONS_FILE = "mscoco_{split}_annotations.json"
SPLITS = ("val2014", "train2014")  # of the original layout; the first when no split is set


class OKVQA(Task):
    name = "okvqa"
    label = "OKVQA"
    version = "2"  # 2: prediction stripped; lmms-eval's exact mean; lmms-eval's 1024 new tokens
    metric = "vqa_accuracy"
    expected_size = 5046
    protocols = ("lmms-eval", "official", "lmms-eval-0.2")
    # lmms-eval's OK-VQA YAML sets no max_new_tokens (v0.2.x and today): its LLaVA default
    generation_tokens = {
        "lmms-eval": LMMS_EVAL_LLAVA_DEFAULT_TOKENS,
        "lmms-eval-0.2": LMMS_EVAL_LLAVA_DEFAULT_TOKENS,
        "official": 16,
    }
    formats = ("hub", "original")
    original_keys = ("split", "questions", "annotations", "image_dir")
    hub_columns = ("question_id", "question", "answers", "image")
    _id = staticmethod(row_id("question_id"))

    def _from_hub(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        doc = dict(row, id=self._id(i, row))
        key = row.get("image_id")
        doc["images"] = [hub_image(row.get("image"), key=None if key is None else str(key))]
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        require_dir(root, "OK-VQA release folder")
        split = self.split_choice({s: s for s in SPLITS}, "the OK-VQA release")
        ds = self.dataset
        q_file = ds.get("questions") or QUESTIONS_FILE.format(split=split)
        a_file = ds.get("annotations") or ANNOTATIONS_FILE.format(split=split)
        questions = _records(root / q_file, "questions")
        annotations = _records(root / a_file, "annotations")
        by_qid = {a.get("question_id"): a for a in annotations if isinstance(a, dict)}
        images = require_dir(root / (ds.get("image_dir") or split), f"COCO {split} images folder")

        def convert(i: int, q: dict[str, Any]) -> dict[str, Any]:
            doc = dict(q, id=self._id(i, q), _index=i)
            ann = by_qid.get(q.get("question_id"))
            if ann is None:
                raise SampleError(f"record {doc['id']}: no annotation with this question_id")
            doc["answers"] = [
                a.get("answer") if isinstance(a, dict) else None for a in ann.get("answers") or []
            ]
            image_id = int(q["image_id"])
            image = images / f"COCO_{split}_{image_id:012d}.jpg"
            return attach_file_image(doc, image, key=str(image_id))

        safe = safe_convert(convert, self._id)
        docs = [safe(i, q) for i, q in enumerate(questions)]
        return self.with_image_check(docs, images)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return f"{text_field(doc, 'question')}\n{UNANSWERABLE}\n{SHORT_ANSWER}"

    def reference(self, doc: dict[str, Any]) -> str:
        """The human answer that scores best under this protocol (1.0 when one answer, after
        normalisation, was given by at least four annotators)."""
        answers = answer_list(doc, "answers")
        return max(dict.fromkeys(answers), key=lambda a: vqa_accuracy(a, answers, self.protocol))

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answers = answer_list(doc, "answers")
        score = vqa_accuracy(prediction.strip(), answers, self.protocol)
        return {"answer": answers, "score": score}

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        return {"vqa_accuracy": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")}


def _records(path: Path, key: str) -> list[object]:
    data = read_json(path, f"OK-VQA {key} file")
    records = data.get(key) if isinstance(data, dict) else None
    if not isinstance(records, list):
        raise HarnessError(f"{path}: no {key!r} list (not an OK-VQA/VQA {key} file)")
    return records


TASK = OKVQA
