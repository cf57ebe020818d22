"""MathVista testmini (1,000 problems): accuracy, scored as lmms-eval's
``mathvista_testmini_format``.

Hub (its release): AI4Math/MathVista split ``testmini`` (image in ``decoded_image``); also a
local ``testmini.json`` (``{pid: problem}``, images relative to the file). Sample id: ``pid``.
Prompt: lmms-eval's format prompt (question, ``(Unit: u)``, lettered choices, a hint by
answer type and precision). Extraction (:mod:`harness.metrics.mathvista`): exact, then (opt-in)
rules, then the judge when one is configured (``task.judge``, :mod:`harness.metrics.judge`),
else empty; the method and the judge are recorded per sample and in the aggregate.

Protocols (:data:`PROTOCOLS`): ``lmms-eval`` (today's main) and ``lmms-eval-0.2`` (v0.2.4, the
paper's era; alias ``paper``) score alike, float-precision defect included; they differ in the
judge model lmms-eval asks by default and in the generation length.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, SampleError
from harness.metrics import mathvista as mv
from harness.metrics.breakdown import mean_by
from harness.metrics.choice import lettered_options
from harness.metrics.judge import Judge, judge_from_config
from harness.tasks.base import Task
from harness.tasks.loading import (
    LazyDocs,
    file_image,
    hub_image,
    raise_doc_error,
    read_json,
    text_field,
)
from harness.types import GenerationSettings

MC_HINT = "Answer with the option's letter from the given choices directly."
PLACES = {1: "one decimal place", 2: "two decimal places", 3: "three decimal places"}
BREAKDOWN = ("question_type", "answer_type", "task", "skill")
ORIGINAL_SPLITS = ("testmini", "test")  # the release's files <split>.json; the first when null
RULES_ONLY = "rules only"  # recorded as the judge when none is configured
DEMO_MAX_NEW_TOKENS = 128  # demo data: the seeded demo models never emit EOS


@dataclasses.dataclass(frozen=True)
class Protocol:
    max_new_tokens: int  # the task YAML's generation_kwargs
    judge_model: str  # the model lmms-eval's judge asks unless told otherwise
    precision_defect: bool  # round(x, <float precision>) raises: float answers never match


PROTOCOLS = {
    # today's main (checked at 75571cf, 2026-08): 16384 tokens since v0.4 (2025-07); judge
    # MODEL_VERSION, default gpt-4o-2024-11-20 since 2025-03
    "lmms-eval": Protocol(16384, "gpt-4o-2024-11-20", True),
    # v0.2.4 (2024-10-02): 1024 tokens; gpt_eval_model_name gpt-3.5-turbo, quick_extract false
    "lmms-eval-0.2": Protocol(1024, "gpt-3.5-turbo", True),
}


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
        places = PLACES.get(digits, f"{digits} decimal places")
        return f"Answer the question using a single floating-point number with {places}."
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
    version = "2"  # 2: lmms-eval's extraction (no rules by default), its float defect, protocols
    metric = "accuracy"
    expected_size = 1000
    protocols = tuple(PROTOCOLS)
    uses_judge = True
    generation_tokens = {name: p.max_new_tokens for name, p in PROTOCOLS.items()}
    formats = ("hub", "original")
    hub_columns = (
        "pid",
        "question",
        "decoded_image",
        "choices",
        "answer",
        "question_type",
        "answer_type",
    )
    hub_image_columns = ("decoded_image",)

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        super().__init__(cfg)
        # built now so a config mistake is one line at start; nothing is loaded or sent yet
        base = Path(str(self.cfg.get("cache_dir") or "~/.cache/unit-harness")).expanduser()
        self._judge = judge_from_config(
            self.cfg.get("judge"), PROTOCOLS[self.protocol].judge_model, base / "judge" / self.name
        )

    # ---- data -------------------------------------------------------------------------
    def load_hub(self) -> Sequence[dict[str, Any]]:
        return LazyDocs(self.hub_rows(), _from_hub)

    def load_original(self, root: Path) -> list[dict[str, Any]]:
        ann = self._original_file(root)
        data = read_json(ann, f"{ann.name} (MathVista's {{pid: problem}} file)")
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

    def _original_file(self, root: Path) -> Path:
        """``<split>.json`` (testmini when no split is set) in ``root`` or ``root/data``; ``root``
        itself when it is a file (whose name, if a split's, must be the configured one)."""
        split = self.split_choice({s: s for s in ORIGINAL_SPLITS}, "the MathVista release")
        if root.is_file():
            if root.stem in ORIGINAL_SPLITS and root.stem != split:
                raise HarnessError(
                    f"task mathvista: task.dataset.path is {root.name} but "
                    f"task.dataset.split is {split!r}"
                )
            return root
        found = (root / p for p in (f"{split}.json", f"data/{split}.json") if (root / p).is_file())
        return next(found, root / f"{split}.json")

    # ---- requests ---------------------------------------------------------------------
    def prompt(self, doc: dict[str, Any]) -> str:
        raise_doc_error(doc)
        qtype, atype = text_field(doc, "question_type"), text_field(doc, "answer_type")
        question = text_field(doc, "question")
        if doc.get("unit"):
            question += f" (Unit: {doc['unit']})"
        choices = self._choices(doc, required=False)
        parts = [
            question,
            lettered_options(choices) if choices else "",
            hint(qtype, atype, doc.get("precision")),
        ]
        return "\n".join(p for p in parts if p).strip()

    def _choices(self, doc: dict[str, Any], required: bool = True) -> list[str]:
        choices = doc.get("choices")
        if not choices and not required:
            return []
        if (
            not isinstance(choices, (list, tuple))
            or not choices
            or not all(isinstance(c, str) for c in choices)
        ):
            raise SampleError(
                f"record {doc['id']}: multi-choice problem without a list of choices: {choices!r}"
            )
        return list(choices)

    def reference(self, doc: dict[str, Any]) -> str:
        """The answer itself (for multi-choice, the choice's text: it is taken without a judge)."""
        answer = text_field(doc, "answer")
        if doc.get("question_type") == "multi_choice" and answer not in self._choices(doc):
            raise SampleError(f"record {doc['id']}: answer {answer!r} is not one of its choices")
        return answer

    # ---- scoring ----------------------------------------------------------------------
    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        answer = text_field(doc, "answer")
        qtype, atype = text_field(doc, "question_type"), text_field(doc, "answer_type")
        choices = self._choices(doc) if qtype == "multi_choice" else doc.get("choices")
        extraction, method = self.extract(doc, prediction.strip(), qtype, atype, choices)
        precision = doc["precision"] if "precision" in doc else 0  # as lmms-eval reads it
        pred = mv.normalize(
            extraction,
            qtype,
            atype,
            choices,
            precision,
            precision_defect=PROTOCOLS[self.protocol].precision_defect,
        )
        raw_meta = doc.get("metadata")
        meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
        skills = meta.get("skills")
        judge = self.judge()
        return {
            "answer": answer,
            "extraction": extraction,
            "extraction_method": method,
            "normalized": pred,
            "judge": judge.label if judge else RULES_ONLY,
            "score": float(mv.is_correct(pred, answer)),
            "question_type": qtype,
            "answer_type": atype,
            "task": meta.get("task"),
            "skills": list(skills) if isinstance(skills, (list, tuple)) else [],
        }

    def extract(
        self,
        doc: dict[str, Any],
        response: str,
        qtype: str,
        atype: str,
        choices: Sequence[str] | None,
    ) -> tuple[str, str]:
        """(extraction, method): ``exact``; ``rule`` (only with ``judge.use_rules``); ``judge``;
        ``judge-failed`` (no answer after the retries: ``""``, as lmms-eval); ``none`` (no
        judge)."""
        got = mv.exact_extract(response, qtype, atype, choices)
        if got is not None:
            return got, "exact"
        if (self.cfg.get("judge") or {}).get("use_rules"):
            got = mv.rule_extract(response, qtype, atype, choices)
            if got is not None:
                return got, "rule"
        judge = self.judge()
        if judge is None:
            return "", "none"
        query = doc.get("query")
        if not isinstance(query, str):
            raise SampleError(
                f"record {doc['id']}: no 'query' text, which the judge's prompt quotes"
            )
        try:
            return judge.complete(mv.judge_prompt(query, response)), "judge"
        except SampleError:
            return "", "judge-failed"

    def judge(self) -> Judge | None:
        """The configured judge, or None (rules only)."""
        return self._judge

    def generation(self) -> GenerationSettings:
        """The protocol's generation length (an explicit ``max_new_tokens`` wins); at most
        ``DEMO_MAX_NEW_TOKENS`` on demo data unless given."""
        gen = super().generation()
        if self.cfg.get("max_new_tokens") is None and self.dataset.get("demo"):
            tokens = min(gen.max_new_tokens, DEMO_MAX_NEW_TOKENS)
            return dataclasses.replace(gen, max_new_tokens=tokens)
        return gen

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        n = len(records)
        out: dict[str, Any] = {
            "accuracy": 100.0 * sum(r["score"] for r in records) / n if n else float("nan")
        }
        groups = {
            "question_type": lambda r: [r.get("question_type")],
            "answer_type": lambda r: [r.get("answer_type")],
            "task": lambda r: [r["task"]] if r.get("task") else [],
            "skill": lambda r: r.get("skills") or [],
        }
        for key in BREAKDOWN:
            for value, acc in sorted(mean_by(records, groups[key]).items()):
                out[f"{key}/{value}"] = acc
        for r in records:
            k = f"extraction/{r.get('extraction_method')}"
            out[k] = out.get(k, 0) + 1
        judges = sorted({str(r.get("judge") or RULES_ONLY) for r in records})
        out["judge"] = ", ".join(judges) or RULES_ONLY
        return out


def _from_hub(i: int, row: dict[str, Any]) -> dict[str, Any]:
    pid = row.get("pid")
    doc = dict(row, id=str(pid) if pid not in (None, "") else f"row{i}")
    try:
        doc["images"] = [hub_image(row.get("decoded_image"), key=row.get("image") or None)]
    except SampleError as exc:
        doc["error"] = str(exc)
    return doc


TASK = MathVista
