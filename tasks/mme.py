"""MME (2,374 yes/no questions, two per image, 14 subtasks): perception score out of 2000.

Hub: lmms-lab/MME (split ``test``; ``question_id`` is the image path, shared by its two
questions). Original: the release folder, one folder per subtask holding either ``images/`` +
``questions_answers_YN/<stem>.txt`` or ``<stem>.jpg|png`` beside ``<stem>.txt``; each txt
holds the image's questions as ``question<TAB>Yes|No`` lines.

Sample ids are row indices (``question_id`` repeats); each record keeps its subtask and image
key (``pair``) for acc+, and a bootstrap resamples image pairs. The table shows perception;
cognition (out of 800) and every subtask's acc, acc+ and score are in the breakdown.
Protocols: ``lmms-eval`` and ``lmms-eval-0.2`` (identical: MME did not change); 16 new tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, SampleError
from harness.metrics import mme as mm
from harness.metrics.yesno import mme_yes_no
from harness.tasks.base import Task
from harness.tasks.loading import (
    LazyDocs,
    file_image,
    hub_image,
    raise_doc_error,
    text_field,
    yes_no_truth,
)
from harness.tasks.prompts import SHORT_ANSWER

if TYPE_CHECKING:  # numpy is imported lazily at run time
    from numpy.typing import ArrayLike, NDArray

YES_NO_SUFFIX = " Please answer yes or no."
IMAGE_EXTS = (".jpg", ".png", ".jpeg", ".JPG", ".PNG", ".JPEG")
RELEASE_FOLDER = "MME_Benchmark_release_version"


class MME(Task):
    name = "mme"
    label = "MME"
    version = "1"
    protocols = ("lmms-eval", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 16, "lmms-eval-0.2": 16}
    metric = "perception"
    max_value = 2000.0
    expected_size = 2374
    formats = ("hub", "original")
    hub_columns = ("question_id", "question", "answer", "image", "category")

    # ---- data -------------------------------------------------------------------------
    def load_hub(self) -> Sequence[dict[str, Any]]:
        return LazyDocs(self.hub_rows(), self._from_hub)

    @staticmethod
    def _from_hub(i: int, row: dict[str, Any]) -> dict[str, Any]:
        pair = row.get("question_id")
        doc = dict(row, id=str(i), pair=None if pair is None else str(pair))
        try:
            if pair is None:
                raise SampleError("record is missing field 'question_id' (the image key)")
            doc["images"] = [hub_image(row.get("image"), key=str(pair))]
        except SampleError as exc:
            doc["error"] = str(exc)
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        self.split_choice({"test": None}, "the MME release (one set)")
        if (root / RELEASE_FOLDER).is_dir():
            root = root / RELEASE_FOLDER
        missing = [s for s in mm.SUBTASKS if not (root / s).is_dir()]
        if missing:
            raise HarnessError(
                f"{self.name}: subtask folder(s) {', '.join(missing)} not found under {root} "
                f"(expected the MME release folder with one folder per subtask)"
            )
        docs: list[dict[str, Any]] = []
        for subtask in mm.SUBTASKS:
            folder = root / subtask
            qa_dir = folder / "questions_answers_YN"
            txts = sorted((qa_dir if qa_dir.is_dir() else folder).glob("*.txt"))
            if not txts:
                raise HarnessError(
                    f"{self.name}: no question files (*.txt) in "
                    f"{qa_dir if qa_dir.is_dir() else folder}"
                )
            image_dir = folder / "images" if qa_dir.is_dir() else folder
            for txt in txts:
                docs.extend(_docs_of_txt(txt, image_dir, subtask, start=len(docs)))
        return self.with_image_check(docs, root)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        question = text_field(doc, "question").strip().replace(YES_NO_SUFFIX, "")
        return f"{question}\n{SHORT_ANSWER}"

    def reference(self, doc: dict[str, Any]) -> str:
        return yes_no_truth(doc, "Yes/No").capitalize()

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        truth = yes_no_truth(doc, "Yes/No")
        category = doc.get("category")
        if not isinstance(category, str) or not category:
            raise SampleError(f"record {doc['id']}: missing field 'category' (the subtask)")
        pred = mme_yes_no(prediction.strip())
        return {
            "answer": truth,
            "category": category,
            "pair": doc.get("pair"),
            "pred_label": pred,
            "score": float(pred == truth),
        }

    @staticmethod
    def _tally(records: Sequence[dict[str, Any]]) -> dict[str, mm.SubtaskTally]:
        return mm.tally(
            (r["category"], str(r["pair"]), str(r["id"]), r["score"] == 1.0) for r in records
        )

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        tallies = self._tally(records)
        out: dict[str, Any] = mm.mme_metrics(tallies)
        out["images"] = sum(t.images for t in tallies.values())
        return out

    def resample_unit(self, record: dict[str, Any]) -> str:
        return f"{record['category']}/{record['pair']}"

    def resample_stratum(self, record: dict[str, Any]) -> str:
        """Pairs are redrawn within their subtask: a resample keeps every subtask's size."""
        stratum: str = record["category"]
        return stratum

    # ---- fast bootstrap (harness.report.stats) ----------------------------------------
    def ci_features(self, unit_records: Sequence[dict[str, Any]]) -> list[int]:
        return mm.tally_features(self._tally(unit_records))

    @staticmethod
    def ci_metric(totals: ArrayLike) -> float | NDArray[Any]:
        return mm.perception_from_features(totals)


def _docs_of_txt(txt: Path, image_dir: Path, subtask: str, start: int) -> list[dict[str, Any]]:
    """The questions of one release txt (``question<TAB>answer`` lines), bad lines as error docs."""
    image = next(
        (
            image_dir / f"{txt.stem}{ext}"
            for ext in IMAGE_EXTS
            if (image_dir / f"{txt.stem}{ext}").is_file()
        ),
        image_dir / f"{txt.stem}.jpg",
    )
    pair = f"{subtask}/{image.name}"
    docs = []
    lines = [
        ln for ln in txt.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()
    ]
    for k, line in enumerate(lines):
        question, tab, answer = line.partition("\t")
        doc = {
            "id": str(start + k),
            "_index": start + k,
            "question_id": pair,
            "pair": pair,
            "category": subtask,
            "question": question.strip(),
            "answer": answer.strip(),
            "source": f"{txt}:{k + 1}",
        }
        try:
            if not tab:
                raise SampleError(f"{txt}:{k + 1}: not a 'question<TAB>Yes|No' line")
            doc["images"] = [file_image(image, key=pair)]
        except SampleError as exc:
            doc["error"] = str(exc)
        docs.append(doc)
    return docs


TASK = MME
