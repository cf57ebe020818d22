"""Other harnesses' prediction files, written from their documented fields, for the replay tests.

- lmms-eval ``--log_samples`` (``<date>_samples_<task>.jsonl``): v0.2.4 writes ``doc_id``,
  ``doc`` (image keys removed), ``target`` (str), ``arguments`` (the generation kwargs as a dict),
  ``resps`` ``[[text]]``, ``filtered_resps`` ``[text]``, ``doc_hash``, ``prompt_hash``,
  ``target_hash``, ``input`` and the metric keys; today's main drops ``doc`` and ``arguments``,
  writes ``filtered_resps`` as the text itself, drops ``resps`` when equal, adds ``token_counts``.
- VLMEvalKit (``<model>_<dataset>.xlsx`` or ``.tsv``): the dataset sheet without ``image``, plus
  ``prediction``; TSV written with every field quoted.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

from harness.demo.data import demo_dataset
from harness.tasks import get_task_class


def demo_task(cache_dir: Path, name: str = "docvqa"):
    """The task on its demo set, as ``data=demo`` builds it (same folder as the runner's)."""
    from harness.config import load_group

    cfg = load_group("task", name)
    cfg["dataset"] = demo_dataset(name, Path(cache_dir) / "demo" / "data", cfg.get("dataset") or {})
    return get_task_class(name)(cfg)


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def lmms_eval_v02_line(doc_id: int, doc: dict, prediction: str, target) -> dict:
    saved = {k: v for k, v in doc.items() if "image" not in k}
    return {
        "doc_id": doc_id,
        "doc": saved,
        "target": str(target),
        "arguments": {"max_new_tokens": 32, "temperature": 0, "do_sample": False},
        "resps": [[prediction]],
        "filtered_resps": [prediction],
        "doc_hash": _hash(json.dumps(saved)),
        "prompt_hash": _hash(doc.get("question", "")),
        "target_hash": _hash(str(target)),
        "input": doc.get("question", ""),
        "anls": {"anls": 0.0},
    }


def lmms_eval_main_line(doc_id: int, prediction: str, target) -> dict:
    return {
        "doc_id": doc_id,
        "target": str(target),
        "filtered_resps": prediction,
        "token_counts": [None],
        "doc_hash": _hash(str(doc_id)),
        "input": "q",
        "anls": 0.0,
    }


def write_lmms_eval(path: Path, docs, predictions: dict[str, str], version: str = "0.2.4") -> Path:
    """One logged sample per document that has a prediction (``predictions`` by sample id)."""
    lines = []
    for d in docs:
        if d["id"] not in predictions:
            continue
        target = d.get("answers") or d.get("answer")
        doc = {
            "questionId": d["id"],
            "question": d.get("question", ""),
            "answers": target,
            "image": "x",
        }
        lines.append(
            lmms_eval_v02_line(d["_index"], doc, predictions[d["id"]], target)
            if version == "0.2.4"
            else lmms_eval_main_line(d["_index"], predictions[d["id"]], target)
        )
    lines.reverse()  # order must not matter
    Path(path).write_text(
        "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), encoding="utf-8"
    )
    return Path(path)


def write_vlmevalkit(path: Path, docs, predictions: dict[str, str]) -> Path:
    """A VLMEvalKit sheet (``index`` = the sample id): .xlsx through openpyxl, .tsv fully quoted."""
    import pandas as pd

    rows = [
        {
            "index": int(d["id"]) if str(d["id"]).isdigit() else d["id"],
            "question": d.get("question", ""),
            "answer": json.dumps(d.get("answers") or d.get("answer")),
            "prediction": predictions[d["id"]],
        }
        for d in docs
        if d["id"] in predictions
    ]
    frame = pd.DataFrame(rows)
    path = Path(path)
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False, engine="openpyxl")
    else:
        frame.to_csv(path, sep="\t", index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)
    return path


def write_native(path: Path, predictions: dict[str, str]) -> Path:
    Path(path).write_text(
        "".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in predictions.items()),
        encoding="utf-8",
    )
    return Path(path)
