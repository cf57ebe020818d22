"""SEED-Bench, image part (question types 1–9, 14,233 questions): accuracy.

Hub: lmms-lab/SEED-Bench split ``test``; its video rows (``data_type == "video"``) are
skipped; ``image`` is a list of images (one for image rows). Original: the release's
``SEED-Bench.json`` (``questions[]``) with its image folder (``SEED-Bench-image/<data_id>``).
Sample id: ``question_id``. An answer is right when its first character (after stripping) is
the answer letter, in any case; the breakdown has the nine question types.
Protocols: ``lmms-eval`` and ``lmms-eval-0.2`` (identical: SEED did not change); 1,024 new
tokens (lmms-eval's YAML sets none: its LLaVA models' default).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics.breakdown import mean_by
from harness.metrics.choice import first_char, lettered_options
from harness.metrics.seed import QUESTION_TYPES, seed_score
from harness.tasks.base import LMMS_EVAL_LLAVA_DEFAULT_TOKENS, Task
from harness.tasks.loading import (
    LazyDocs,
    file_image,
    hub_column,
    hub_image,
    hub_image_list,
    raise_doc_error,
    read_json,
    text_field,
)

MC_SUFFIX = "Answer with the option's letter from the given choices directly."
CHOICE_FIELDS = ("choice_a", "choice_b", "choice_c", "choice_d")
IMAGE_FOLDERS = ("SEED-Bench-image", "images", ".")


class SEED(Task):
    name = "seed"
    label = "SEED-Image"
    version = "2"  # 2: lmms-eval's 1024 new tokens
    protocols = ("lmms-eval", "lmms-eval-0.2")
    generation_tokens = {
        "lmms-eval": LMMS_EVAL_LLAVA_DEFAULT_TOKENS,
        "lmms-eval-0.2": LMMS_EVAL_LLAVA_DEFAULT_TOKENS,
    }
    metric = "accuracy"
    expected_size = 14233
    formats = ("hub", "original")
    hub_columns = (
        "question_id",
        "question",
        "answer",
        "data_type",
        "question_type_id",
        "image",
    ) + CHOICE_FIELDS
    original_keys = ("split", "annotations", "image_dir")

    # ---- data -------------------------------------------------------------------------
    def load_hub(self) -> Sequence[dict[str, Any]]:
        rows = hub_image_list(self.hub_rows())
        keep = [i for i, t in enumerate(hub_column(rows, "data_type")) if t != "video"]
        if len(keep) < len(rows):
            rows = rows.select(keep)
        return LazyDocs(rows, functools.partial(_from_hub_at, keep))

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        self.split_choice({"test": None}, "the SEED-Bench release (one set)")
        name = self.dataset.get("annotations") or "SEED-Bench.json"
        ann = root / name if root.is_dir() else root
        data = read_json(ann, "SEED-Bench.json (the release's question file)")
        questions = data.get("questions") if isinstance(data, dict) else data
        if not isinstance(questions, list):
            raise HarnessError(
                f"{ann}: no 'questions' list; expected the release's SEED-Bench.json"
            )
        images = _image_dir(ann.parent, self.dataset.get("image_dir"))
        docs = []
        for i, rec in enumerate(
            q for q in questions if isinstance(q, dict) and q.get("data_type") != "video"
        ):
            doc = dict(rec, _index=i)
            doc["id"] = str(rec.get("question_id", f"row{i}"))
            try:
                _check_type(doc)
                if not rec.get("data_id"):
                    raise SampleError("record is missing field 'data_id' (the image file)")
                doc["images"] = [file_image(images / rec["data_id"], key=str(rec["data_id"]))]
            except SampleError as exc:
                doc["error"] = str(exc)
            docs.append(doc)
        return self.with_image_check(docs, images)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        choices = [text_field(doc, f) for f in CHOICE_FIELDS]
        return f"{text_field(doc, 'question')}\n{lettered_options(choices)}\n{MC_SUFFIX}"

    def _truth(self, doc: dict[str, Any]) -> str:
        answer = doc.get("answer")
        if not isinstance(answer, str) or answer.strip().upper() not in ("A", "B", "C", "D"):
            raise SampleError(f"record {doc['id']}: answer {answer!r} is not an option letter A-D")
        return answer.strip().upper()

    def reference(self, doc: dict[str, Any]) -> str:
        return self._truth(doc)

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        truth = self._truth(doc)
        qtype = _check_type(doc)
        prediction = prediction.strip()
        return {
            "answer": truth,
            "question_type": QUESTION_TYPES[qtype],
            "pred_letter": first_char(prediction),
            "score": seed_score(prediction, truth),
        }

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        out: dict[str, Any] = {
            "accuracy": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")
        }
        by_type = mean_by(records, lambda r: [r["question_type"]])
        for name in QUESTION_TYPES.values():
            if name in by_type:
                out[f"question_type/{name}"] = by_type[name]
        return out


def _check_type(doc: dict[str, Any]) -> int:
    """The question type id (1–9) as an int; SampleError for a missing or video type."""
    try:
        qtype = int(str(doc.get("question_type_id")).strip())
    except ValueError:
        raise SampleError(
            f"record {doc.get('id')}: question_type_id {doc.get('question_type_id')!r} "
            "is not a number"
        ) from None
    if qtype not in QUESTION_TYPES:
        raise SampleError(
            f"record {doc.get('id')}: question_type_id {qtype} is not an image question type (1-9)"
        )
    return qtype


def _from_hub_at(keep: list[int], j: int, row: dict[str, Any]) -> dict[str, Any]:
    """Convert the j-th kept (image) row, reporting its original hub row (picklable for workers)."""
    return _from_hub(keep[j], row)


def _from_hub(index: int, row: dict[str, Any]) -> dict[str, Any]:
    qid = row.get("question_id")
    doc = dict(row, id=str(qid) if qid not in (None, "") else f"row{index}", _index=index)
    try:
        _check_type(doc)
        cells = row.get("image")
        if not isinstance(cells, (list, tuple)) or not cells:
            raise SampleError("record has no image")
        doc["images"] = [hub_image(c, key=row.get("data_id") or None) for c in cells]
    except SampleError as exc:
        doc["error"] = str(exc)
    return doc


def _image_dir(root: Path, given: str | None) -> Path:
    candidates = [given] if given else list(IMAGE_FOLDERS)
    for c in candidates:
        folder = Path(c).expanduser()
        folder = folder if folder.is_absolute() else root / folder
        if folder.is_dir() and (given or c != "." or any(folder.glob("*.jpg"))):
            return folder
    raise HarnessError(
        f"seed: image folder not found under {root} (looked for {', '.join(candidates)}); "
        f"set task.dataset.image_dir=DIR"
    )


TASK = SEED
