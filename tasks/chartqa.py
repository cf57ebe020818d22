"""ChartQA (test, 2,500 questions: 1,250 human + 1,250 augmented): relaxed accuracy, ×100.

Data: lmms-lab/ChartQA (or lmms-lab-encoder/ChartQA), default config, split ``test``
(``type`` = ``human_test``/``augmented_test``, ``question``, ``answer``, ``image``); or the
original release (``format=original``): ``<split>/<split>_human.json`` and
``<split>/<split>_augmented.json`` (records ``imgname``, ``query``, ``label``; a plain list or
``{"data": [...]}``) with the charts in ``<split>/png/`` (split test when null). The folder
given may be the release root or its split folder.

Sample ids: the row index as a string (the data has no id field); in the original layout the
human records come first, then the augmented ones, as in the hub set. Image keys: the
original's ``imgname`` (none in the hub schema).
Prompt: ``{question}\\nAnswer the question with a single word.``
Metrics: overall, ``human`` and ``augmented`` (each record carries its ``type``).
Protocols: ``lmms-eval`` and ``lmms-eval-0.2`` (identical: ChartQA did not change); the
prediction is stripped first, as lmms-eval's task layer does; 16 new tokens.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics.relaxed import relaxed_correctness
from harness.tasks.base import Task
from harness.tasks.loading import (
    attach_file_image,
    hub_image,
    raise_doc_error,
    read_json,
    require_dir,
    row_id,
    safe_convert,
    text_field,
)

SINGLE_WORD = "Answer the question with a single word."
HUMAN, AUGMENTED = "human_test", "augmented_test"
ORIGINAL_FILES = ((HUMAN, "{split}_human.json"), (AUGMENTED, "{split}_augmented.json"))
SPLITS = ("test", "val", "train")  # of the original layout; the first when no split is set


class ChartQA(Task):
    name = "chartqa"
    label = "ChartQA"
    version = "2"  # 2: the prediction is stripped before scoring
    protocols = ("lmms-eval", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 16, "lmms-eval-0.2": 16}
    metric = "relaxed_accuracy"
    expected_size = 2500
    formats = ("hub", "original")
    hub_columns = ("type", "question", "answer", "image")
    _id = staticmethod(row_id(None))

    def _from_hub(self, i: int, row: dict[str, Any]) -> dict[str, Any]:
        doc = dict(row, id=self._id(i, row))
        key = row.get("imgname")
        doc["images"] = [hub_image(row.get("image"), key=None if key is None else str(key))]
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        require_dir(root, "ChartQA release folder")
        split = self.split_choice({s: s for s in SPLITS}, "the ChartQA release")
        files = [(kind, f.format(split=split)) for kind, f in ORIGINAL_FILES]
        test = root if (root / files[0][1]).is_file() else root / split
        pngs = require_dir(test / "png", "ChartQA chart folder")
        docs: list[dict[str, Any]] = []
        for kind, fname in files:
            data = read_json(test / fname, f"ChartQA {kind} file")
            records = data.get("data") if isinstance(data, dict) else data
            if not isinstance(records, list):
                raise HarnessError(
                    f"{test / fname}: expected a list of records (not a ChartQA test file)"
                )
            convert = safe_convert(functools.partial(_from_original, pngs, kind), self._id)
            start = len(docs)
            docs += [convert(start + k, rec) for k, rec in enumerate(records)]
        return self.with_image_check(docs, pngs)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return f"{text_field(doc, 'question')}\n{SINGLE_WORD}"

    def reference(self, doc: dict[str, Any]) -> str:
        return text_field(doc, "answer")

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answer = text_field(doc, "answer")
        score = relaxed_correctness(prediction.strip(), answer)
        return {"answer": answer, "score": score, "type": doc.get("type")}

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Overall and per split; lmms-eval counts every non-``human_test`` record as augmented."""
        out: dict[str, Any] = {"relaxed_accuracy": _pct(records)}
        for key, part in (
            ("human", [r for r in records if r.get("type") == HUMAN]),
            ("augmented", [r for r in records if r.get("type") != HUMAN]),
        ):
            if part:
                out[key] = _pct(part)
            out[f"n_{key}"] = len(part)
        return out


def _from_original(pngs: Path, kind: str, i: int, rec: dict[str, Any]) -> dict[str, Any]:
    doc = {
        "id": str(i),
        "_index": i,
        "type": kind,
        "question": rec.get("query"),
        "answer": rec.get("label"),
    }
    name = rec.get("imgname")
    if not isinstance(name, str):
        raise SampleError(f"record {i}: missing field 'imgname'")
    return attach_file_image(doc, pngs / name, key=name)


def _pct(records: Sequence[dict[str, Any]]) -> float:
    return 100.0 * sum(r["score"] for r in records) / len(records) if records else float("nan")


TASK = ChartQA
