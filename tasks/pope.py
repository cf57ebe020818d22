"""POPE (9,000 yes/no object-existence questions: adversarial, popular, random × 3,000): F1.

Hub: lmms-lab/POPE, config ``default`` split ``test`` (the three splits in ``category``), or
config ``Full`` with ``dataset.split`` a list of its splits. Original: the release's
``coco_pope_{adversarial,popular,random}.json`` (JSON lines ``{question_id, image, text,
label}``) with a COCO val2014 image folder (``task.dataset.image_dir``); ``dataset.split``
test (all three), one split name or a list of them.

Sample ids: ``question_id`` when it is unique over the whole set; otherwise (the release
numbers each split from 1) ``<split>/<question_id>``; failing that, the row index.

Protocols (the prediction stripped first): ``lmms-eval`` (default; 128 new tokens) reads an
answer only when it is exactly yes/no; ``lmms-eval-0.2`` is identical (POPE's scoring did not
change); ``llava`` (16 new tokens) reads it as LLaVA's ``eval_pope.py`` does. All report
per-split and overall accuracy, precision, recall, F1 and yes-ratio (of the predictions), and
LLaVA's mean F1 of the splits; the table shows the overall F1.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError, SampleError
from harness.jsonl import json_lines
from harness.metrics import pope as pm
from harness.metrics.yesno import exact_yes_no, llava_yes_no
from harness.tasks.base import Task
from harness.tasks.loading import (
    LazyDocs,
    file_image,
    hub_column,
    hub_image,
    load_hub_any,
    raise_doc_error,
    require_columns,
    text_field,
    yes_no_truth,
)
from harness.tasks.prompts import SHORT_ANSWER

if TYPE_CHECKING:  # numpy is imported lazily at run time
    from numpy.typing import ArrayLike, NDArray

SPLITS = ("adversarial", "popular", "random")
PARSERS = {"lmms-eval": exact_yes_no, "lmms-eval-0.2": exact_yes_no, "llava": llava_yes_no}
LLAVA_RANDOM_SIZE = 2910  # LLaVA-1.5's older copy of coco_pope_random.json


def unique_ids(question_ids: Sequence[Any], splits: Sequence[Any]) -> list[str]:
    """The id scheme: ``question_id``; ``split/question_id`` if those repeat; else the row index.

    >>> unique_ids([1, 2], ["random", "random"]), unique_ids([1, 1], ["random", "popular"])
    (['1', '2'], ['random/1', 'popular/1'])
    >>> unique_ids([1, 1], ["random", "random"])
    ['0', '1']
    """
    for ids in ([str(q) for q in question_ids], [f"{s}/{q}" for q, s in zip(question_ids, splits)]):
        if len(set(ids)) == len(ids) and not any(q is None for q in question_ids):
            return ids
    return [str(i) for i in range(len(question_ids))]


def _convert_at(ids: list[str], i: int, row: dict[str, Any]) -> dict[str, Any]:
    """Row converter with precomputed unique ids (module level so DataLoader workers can pickle
    it)."""
    return POPE._from_hub(ids[i], row)


class POPE(Task):
    name = "pope"
    label = "POPE"
    version = "2"  # 2: the prediction is stripped first; lmms-eval's 128 new tokens
    metric = "f1"
    expected_size = 9000
    protocols = ("lmms-eval", "llava", "lmms-eval-0.2")
    generation_tokens = {"lmms-eval": 128, "lmms-eval-0.2": 128, "llava": 16}
    formats = ("hub", "original")
    original_keys = ("split", "image_dir")

    # ---- data -------------------------------------------------------------------------
    def load_hub(self) -> Sequence[dict[str, Any]]:
        import datasets

        ds = self.dataset
        splits = self.setting("split")
        parts = []
        for split in [splits] if isinstance(splits, str) else list(splits):
            rows = load_hub_any(str(self.setting("path")), ds.get("name"), split)
            if "category" not in rows.column_names:
                rows = rows.addhub_column("category", [split] * len(rows))
            parts.append(rows)
        rows = parts[0] if len(parts) == 1 else datasets.concatenate_datasets(parts)
        require_columns(
            rows,
            ("question_id", "question", "answer", "image", "category"),
            f"{self.name} {ds['path']}",
        )
        cats = hub_column(rows, "category")
        self._counts = _count(cats)
        ids = unique_ids(hub_column(rows, "question_id"), cats)
        return LazyDocs(rows, functools.partial(_convert_at, ids))

    @staticmethod
    def _from_hub(doc_id: str, row: dict[str, Any]) -> dict[str, Any]:
        doc = dict(row, id=doc_id, split=row.get("category"))
        try:
            doc["images"] = [hub_image(row.get("image"), key=row.get("image_source") or None)]
        except SampleError as exc:
            doc["error"] = str(exc)
        return doc

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        files = {s: _find_split_file(root, s) for s in self._original_splits()}
        missing = [f"coco_pope_{s}.json" for s, f in files.items() if f is None]
        if missing:
            raise HarnessError(
                f"{self.name}: {', '.join(missing)} not found under {root} (nor {root}/coco, "
                f"{root}/output/coco); expected the POPE release files"
            )
        images = _image_dir(root, self.dataset.get("image_dir"))
        paths = {s: f for s, f in files.items() if f is not None}  # all found (checked above)
        lines = [
            (s, rec if isinstance(rec, dict) else {})
            for s in paths
            for _, rec in json_lines(paths[s])
        ]
        self._counts = _count([s for s, _ in lines])
        ids = unique_ids([rec.get("question_id") for _, rec in lines], [s for s, _ in lines])
        docs = []
        for i, ((split, rec), doc_id) in enumerate(zip(lines, ids)):
            doc = {
                "id": doc_id,
                "_index": i,
                "split": split,
                "question_id": rec.get("question_id"),
                "question": rec.get("text"),
                "answer": rec.get("label"),
                "image_source": rec.get("image"),
            }
            try:
                if not rec.get("image"):
                    raise SampleError("record is missing field 'image'")
                doc["images"] = [file_image(images / rec["image"], key=rec["image"])]
            except SampleError as exc:
                doc["error"] = str(exc)
            docs.append(doc)
        return self.with_image_check(docs, images)

    def _original_splits(self) -> list[str]:
        """The release splits ``task.dataset.split`` names: test (or null) for all three, one of
        them, or a list of them."""
        given = self.dataset.get("split")
        out: list[str] = []
        for name in [given] if given is None or isinstance(given, str) else list(given):
            if name not in (None, "test", *SPLITS):
                raise HarnessError(
                    f"task pope: task.dataset.split={given!r} is not a split of the "
                    f"POPE release (it has: test = all three, {', '.join(SPLITS)})"
                )
            out += list(SPLITS) if name in (None, "test") else [name]
        return list(dict.fromkeys(out))

    def check_size(self, n: int) -> None:
        before = len(self.warnings)
        super().check_size(n)
        counts = getattr(self, "_counts", {})
        if len(self.warnings) > before and counts.get("random") == LLAVA_RANDOM_SIZE:
            self.warnings[-1] += (
                f" (its random split has {LLAVA_RANDOM_SIZE} questions: LLaVA-1.5's older "
                f"copy of coco_pope_random.json, not the 3,000 of the current release)"
            )

    # ---- requests and scoring ---------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        return f"{text_field(doc, 'question').strip()}\n{SHORT_ANSWER}"

    def reference(self, doc: dict[str, Any]) -> str:
        return yes_no_truth(doc)

    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        truth = yes_no_truth(doc)
        pred = PARSERS[self.protocol](prediction.strip())
        return {
            "answer": truth,
            "split": doc.get("split"),
            "pred_label": pred,
            "score": float(pred == truth),
        }

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        overall = pm.count((r["pred_label"], r["answer"]) for r in records)
        out: dict[str, Any] = {k: 100.0 * v for k, v in pm.binary_metrics(overall).items()}
        out["unparsed"] = overall.other
        split_f1 = []
        for split in sorted({str(r.get("split")) for r in records}):
            c = pm.count(
                (r["pred_label"], r["answer"]) for r in records if str(r.get("split")) == split
            )
            for k, v in pm.binary_metrics(c).items():
                out[f"{split}/{k}"] = 100.0 * v
            split_f1.append(out[f"{split}/f1"])
        out["mean_f1"] = sum(split_f1) / len(split_f1) if split_f1 else float("nan")
        return out

    # ---- fast bootstrap (harness.report.stats) ----------------------------------------
    @staticmethod
    def ci_features(unit_records: Sequence[dict[str, Any]]) -> list[int]:
        return pm.count((r["pred_label"], r["answer"]) for r in unit_records).as_list()

    @staticmethod
    def ci_metric(totals: ArrayLike) -> float | NDArray[Any]:
        import numpy as np

        t = np.asarray(totals, dtype=float)
        return 100.0 * pm.f1_from_counts(t[..., 0], t[..., 1], t[..., 3])


def _count(values: Iterable[object]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0) + 1
    return out


def _find_split_file(root: Path, split: str) -> Path | None:
    for folder in (root, root / "coco", root / "output" / "coco"):
        if (folder / f"coco_pope_{split}.json").is_file():
            return folder / f"coco_pope_{split}.json"
    return None


def _image_dir(root: Path, given: str | None) -> Path:
    candidates = (
        [Path(given).expanduser()]
        if given
        else [Path("val2014"), Path("images"), Path("coco/val2014")]
    )
    for c in candidates:
        folder = c if c.is_absolute() else root / c
        if folder.is_dir():
            return folder
    raise HarnessError(
        "pope: COCO val2014 image folder not found "
        f"(looked for {', '.join(str(c) for c in candidates)} "
        f"under {root}); set task.dataset.image_dir=DIR"
    )


TASK = POPE
