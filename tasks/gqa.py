"""GQA (testdev-balanced, 12,578 questions on 398 images): exact match, reported ×100.

Data: lmms-lab/GQA (or lmms-lab-encoder/GQA), split ``testdev``: config
``testdev_balanced_instructions`` (questions: ``id``, ``imageId``, ``question``, ``answer``)
joined on ``imageId`` with config ``testdev_balanced_images`` (``id``, ``image``). The join
reads only the images' ``id`` column (no image is decoded) and the image bytes of a question
are fetched when its document is built. Or the original release (``format=original``):
``<split>_balanced_questions.json`` (``{question id: record}``; ``task.dataset.annotations``
names another file) and an ``images/`` folder (``task.dataset.image_dir``) of ``<imageId>.jpg``.
Every dataset default is in ``gqa.yaml``; with format=original a null split reads testdev.

Sample ids: the question ``id``. Questions on one image share its ImageRef key (``imageId``).
Prompt: ``{question}\\nAnswer the question using a single word or phrase.``
Protocols: ``lmms-eval`` (default; strip, lowercase, delete ASCII punctuation, with numpy's
string-cell quirks), ``lmms-eval-0.2`` (the same: GQA's scoring did not change) and ``llava``
(strip, drop trailing periods, lowercase). 16 new tokens under all three.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics.exact import exact_match, exact_match_llava
from harness.tasks.base import Task
from harness.tasks.loading import (
    LazyCell,
    LazyDocs,
    attach_file_image,
    find_file,
    hub_column,
    hub_image,
    lazy_cells,
    raise_doc_error,
    read_json,
    require_dir,
    row_id,
    safe_convert,
    text_field,
)
from harness.tasks.prompts import short_answer_prompt

QUESTIONS_FILE = "{split}_balanced_questions.json"  # original release: one file per split
SPLITS = ("testdev", "val", "train", "challenge", "submission")  # the first when no split is set
_METRICS = {"lmms-eval": exact_match, "lmms-eval-0.2": exact_match, "llava": exact_match_llava}


class GQA(Task):
    name = "gqa"
    label = "GQA"
    version = "2"  # 2: numpy's string-cell quirks of lmms-eval's exact_match
    metric = "exact_match"
    expected_size = 12578
    protocols = ("lmms-eval", "llava", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 16, "lmms-eval-0.2": 16, "llava": 16}
    formats = ("hub", "original")
    hub_keys = ("name", "images_name", "split")  # questions config, images config, split of both
    original_keys = ("split", "annotations", "image_dir")
    _id = staticmethod(row_id("id"))

    def load_hub(self) -> Sequence[dict[str, Any]]:
        questions = self.hub_rows(
            str(self.setting("name")), columns=("id", "imageId", "question", "answer")
        )
        images_config = str(self.setting("images_name"))
        images = self.hub_rows(images_config, columns=("id", "image"))
        position = {str(image_id): j for j, image_id in enumerate(hub_column(images, "id"))}
        # each image a cell read when its bytes are needed: a question's document never holds
        # them (the plan keeps it, and ~30 questions ask about each image)
        cells = lazy_cells(images.select_columns(["image"]), "image")
        convert = functools.partial(self._from_hub, cells, position, images_config)
        return LazyDocs(questions, safe_convert(convert, self._id))

    def _from_hub(
        self,
        images: Sequence[LazyCell],
        position: dict[str, int],
        images_config: str,
        i: int,
        row: dict[str, Any],
    ) -> dict[str, Any]:
        doc = dict(row, id=self._id(i, row))
        image_id = row.get("imageId")
        j = position.get(str(image_id)) if image_id is not None else None
        if j is None:
            raise SampleError(
                f"record {doc['id']}: image {image_id!r} is not in config {images_config}"
            )
        doc["images"] = [hub_image(images[j], key=str(image_id))]
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        require_dir(root, "gqa release folder")
        ann = self.dataset.get("annotations")
        split = self.split_choice({s: s for s in SPLITS}, "the GQA release")
        name = QUESTIONS_FILE.format(split=split)
        ann = (
            root / ann
            if ann
            else find_file(
                root, (name, f"questions/{name}", f"questions1.2/{name}"), "GQA questions file"
            )
        )
        data = read_json(ann, "GQA questions file")
        if not isinstance(data, dict):
            raise HarnessError(
                f"{ann}: expected an object {{question id: record}} (not a GQA questions file)"
            )
        images = require_dir(
            root / (self.dataset.get("image_dir") or "images"), "GQA images folder"
        )

        def convert(i: int, item: tuple[str, dict[str, Any]]) -> dict[str, Any]:
            qid, rec = item
            doc = dict(rec, id=str(qid), _index=i)
            image_id = text_field(doc, "imageId")
            return attach_file_image(doc, images / f"{image_id}.jpg", key=image_id)

        safe = safe_convert(convert, lambda i, item: str(item[0]))
        docs = [safe(i, item) for i, item in enumerate(data.items())]
        return self.with_image_check(docs, images)

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return short_answer_prompt(text_field(doc, "question"))

    def reference(self, doc: dict[str, Any]) -> str:
        return text_field(doc, "answer")

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answer = text_field(doc, "answer")
        return {"answer": answer, "score": _METRICS[self.protocol](prediction.strip(), answer)}

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        return {"exact_match": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")}


TASK = GQA
