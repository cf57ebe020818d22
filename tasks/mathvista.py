"""MathVista testmini (1,000 problems): accuracy, with rule-based answer extraction.

Hub (its release): AI4Math/MathVista split ``testmini`` (image in ``decoded_image``); also a
local ``testmini.json`` (``{pid: problem}``, images relative to the file). Sample id: ``pid``.
Prompt: lmms-eval's format prompt (question, ``(Unit: u)``, lettered choices, a hint by
answer type and precision). Extraction (:mod:`harness.metrics.mathvista`): exact, then rules,
then an optional OpenAI-compatible judge (``task.judge.url``), else empty; the method is
recorded per sample. Breakdown by question type, answer type, task and skill.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics import mathvista as mv
from harness.metrics.breakdown import mean_by
from harness.metrics.choice import lettered_options, option_letters
from tasks.base import Task
from tasks.loading import (LazyDocs, file_image, hub_image, raise_doc_error,
                           read_json, text_field)

MC_HINT = "Answer with the option's letter from the given choices directly."
PLACES = {1: "one decimal place", 2: "two decimal places", 3: "three decimal places"}
BREAKDOWN = ("question_type", "answer_type", "task", "skill")


def hint(question_type: str, answer_type: str, precision: Any) -> str:
    """The format hint closing the prompt.

    >>> hint("free_form", "float", 2.0)
    'Answer the question using a single floating-point number with two decimal places.'
    """
    if question_type == "multi_choice":
        return MC_HINT
    if answer_type == "integer":
        return "Answer the question using a single integer number."
    if answer_type == "float":
        digits = _precision(precision)
        if digits is None:
            return "Answer the question using a single floating-point number."
        return f"Answer the question using a single floating-point number with {PLACES.get(digits, f'{digits} decimal places')}."
    if answer_type == "list":
        return "Answer the question using a Python list."
    return "Answer the question using a single word or phrase."


def _precision(value: Any) -> int | None:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(p) else int(p)


class MathVista(Task):
    name = "mathvista"
    label = "MathVista"
    version = "1"
    metric = "accuracy"
    expected_size = 1000
    formats = ("hub", "original")
    hub_split = "testmini"
    hub_columns = ("pid", "question", "decoded_image", "choices", "answer", "question_type", "answer_type")
    hub_image_columns = ("decoded_image",)

    # ---- data -------------------------------------------------------------------------
    def load_hub(self):
        return LazyDocs(self.hub_rows(), _from_hub)

    def load_original(self, root: Path) -> list[dict]:
        ann = root if root.is_file() else next((root / p for p in ("testmini.json", "data/testmini.json")
                                                if (root / p).is_file()), root / "testmini.json")
        data = read_json(ann, "testmini.json (MathVista's {pid: problem} file)")
        problems = list(data.values()) if isinstance(data, dict) else data
        if not isinstance(problems, list):
            raise HarnessError(f"{ann}: expected a {{pid: problem}} object or a list of problems")
        docs = []
        for i, rec in enumerate(problems):
            rec = rec if isinstance(rec, dict) else {}
            doc = dict(rec, id=str(rec.get("pid", f"row{i}")), _index=i)
            try:
                text_field(doc, "image")
                doc["images"] = [file_image(ann.parent / rec["image"], key=str(rec["image"]))]
            except SampleError as exc:
                doc["error"] = str(exc)
            docs.append(doc)
        return self.with_image_check(docs, ann.parent)

    # ---- requests ---------------------------------------------------------------------
    def prompt(self, doc: dict) -> str:
        raise_doc_error(doc)
        qtype, atype = text_field(doc, "question_type"), text_field(doc, "answer_type")
        question = text_field(doc, "question")
        if doc.get("unit"):
            question += f" (Unit: {doc['unit']})"
        choices = self._choices(doc, required=False)
        parts = [question, lettered_options(choices) if choices else "", hint(qtype, atype, doc.get("precision"))]
        return "\n".join(p for p in parts if p).strip()

    def _choices(self, doc: dict, required: bool = True) -> list[str]:
        choices = doc.get("choices")
        if not choices and not required:
            return []
        if not isinstance(choices, (list, tuple)) or not choices or not all(isinstance(c, str) for c in choices):
            raise SampleError(f"record {doc['id']}: multi-choice problem without a list of choices: {choices!r}")
        return list(choices)

    def reference(self, doc: dict) -> str:
        answer = text_field(doc, "answer")
        if doc.get("question_type") == "multi_choice":
            choices = self._choices(doc)
            if answer not in choices:
                raise SampleError(f"record {doc['id']}: answer {answer!r} is not one of its choices")
            return option_letters(len(choices))[choices.index(answer)]
        return answer

    # ---- scoring ----------------------------------------------------------------------
    def score(self, doc: dict, prediction: str) -> dict[str, Any]:
        answer = text_field(doc, "answer")
        qtype, atype = text_field(doc, "question_type"), text_field(doc, "answer_type")
        choices = self._choices(doc) if qtype == "multi_choice" else doc.get("choices")
        extraction, method = self.extract(doc, prediction.strip(), qtype, atype, choices)
        pred = mv.normalize(extraction, qtype, atype, choices, doc.get("precision"))
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        skills = meta.get("skills")
        return {"answer": answer, "extraction": extraction, "extraction_method": method, "normalized": pred,
                "score": float(mv.is_correct(pred, answer)), "question_type": qtype, "answer_type": atype,
                "task": meta.get("task"), "skills": list(skills) if isinstance(skills, (list, tuple)) else []}

    def extract(self, doc: dict, response: str, qtype: str, atype: str, choices) -> tuple[str, str]:
        """(extraction, method): exact, rule, judge or none."""
        got = mv.exact_extract(response, qtype, atype, choices)
        if got is not None:
            return got, "exact"
        judge_cfg = dict(self.cfg.get("judge") or {})
        if judge_cfg.get("use_rules", True):
            got = mv.rule_extract(response, qtype, atype, choices)
            if got is not None:
                return got, "rule"
        if response and judge_cfg.get("url"):
            from harness.metrics.judge import extraction_prompt

            return self._judge().complete(extraction_prompt(self.prompt(doc), response)), "judge"
        return "", "none"

    def _judge(self):
        if getattr(self, "_judge_client", None) is None:
            from harness.metrics.judge import Judge

            j = dict(self.cfg.get("judge") or {})
            base = Path(str(self.cfg.get("cache_dir") or "~/.cache/unit-harness")).expanduser()
            cache = Path(str(j["cache_dir"])).expanduser() if j.get("cache_dir") else base / "judge" / self.name
            self._judge_client = Judge(j["url"], j.get("model") or "", cache, api_key_env=j.get("api_key_env"),
                                       timeout_s=float(j.get("timeout_s") or 60))
        return self._judge_client

    def aggregate(self, records) -> dict[str, Any]:
        n = len(records)
        out: dict[str, Any] = {"accuracy": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")}
        groups = {"question_type": lambda r: [r.get("question_type")], "answer_type": lambda r: [r.get("answer_type")],
                  "task": lambda r: [r["task"]] if r.get("task") else [], "skill": lambda r: r.get("skills") or []}
        for key in BREAKDOWN:
            for value, acc in sorted(mean_by(records, groups[key]).items()):
                out[f"{key}/{value}"] = acc
        for r in records:
            k = f"extraction/{r.get('extraction_method')}"
            out[k] = out.get(k, 0) + 1
        return out


def _from_hub(i: int, row: dict) -> dict:
    pid = row.get("pid")
    doc = dict(row, id=str(pid) if pid not in (None, "") else f"row{i}")
    try:
        doc["images"] = [hub_image(row.get("decoded_image"), key=row.get("image") or None)]
    except SampleError as exc:
        doc["error"] = str(exc)
    return doc


TASK = MathVista
