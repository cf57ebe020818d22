"""Run folders for the report tests, written in the runner's format (scores.json, meta.json,
predictions/<task>.jsonl) from records scored by the real DocVQA task or by small fake tasks.

The fakes stand in for tasks whose adapters another helper is writing: a POPE-like task whose
table metric is F1 (not a mean of per-sample scores) and an MME-like task resampled by image
pair (acc+ needs both questions of a pair). ``install_fakes`` makes the report see them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.report import columns
from harness.tasks.base import Task
from harness.tasks.docvqa import DocVQA


class FakePope(Task):
    """POPE-like: records carry ``pred``/``answer`` (yes/no) and ``split``; the metric is F1 (%)."""

    name, label, version, metric = "pope", "POPE", "0", "f1"

    @staticmethod
    def _prf(recs):
        tp = sum(r["pred"] == "yes" and r["answer"] == "yes" for r in recs)
        fp = sum(r["pred"] == "yes" and r["answer"] == "no" for r in recs)
        fn = sum(r["pred"] != "yes" and r["answer"] == "yes" for r in recs)
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        acc = sum(x["pred"] == x["answer"] for x in recs) / len(recs)
        return {"f1": 100 * f1, "accuracy": 100 * acc, "precision": 100 * p, "recall": 100 * r}

    def aggregate(self, records):
        out = self._prf(records)
        splits = sorted({r["split"] for r in records})
        out["splits"] = {s: self._prf([r for r in records if r["split"] == s]) for s in splits}
        return out


class FakePopeFast(FakePope):
    """The same task declaring the sufficient-statistics fast path (TP, FP, FN counts)."""

    def ci_features(self, unit_records):
        r = unit_records[0]
        return [
            r["pred"] == "yes" and r["answer"] == "yes",
            r["pred"] == "yes" and r["answer"] == "no",
            r["pred"] != "yes" and r["answer"] == "yes",
        ]

    def ci_metric(self, totals):
        tp, fp, fn = totals[..., 0], totals[..., 1], totals[..., 2]
        denom = 2 * tp + fp + fn
        return np.where(denom > 0, 100 * 2 * tp / np.maximum(denom, 1), 0.0)


class FakePopeWrongFast(FakePopeFast):
    def ci_metric(self, totals):  # accuracy-like, not F1: must be caught
        return 100 * totals[..., 0] / totals.sum(axis=-1).clip(min=1)


PERCEPTION, COGNITION = ("existence", "count"), ("code_reasoning",)


class FakeMME(Task):
    """MME-like: per category acc and acc+ (both questions of an image pair right), summed."""

    name, label, version, metric, max_value = "mme", "MME", "0", "perception", 2000.0

    def aggregate(self, records):
        cats: dict[str, dict[str, list[float]]] = {}
        for r in records:
            cats.setdefault(r["category"], {}).setdefault(r["pair"], []).append(r["score"])
        sub = {}
        for cat, pairs in cats.items():
            scores = [s for p in pairs.values() for s in p]
            acc = 100 * sum(scores) / len(scores)
            acc_plus = 100 * sum(all(s == 1 for s in p) for p in pairs.values()) / len(pairs)
            sub[cat] = {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus}
        return {
            "perception": sum(v["score"] for c, v in sub.items() if c in PERCEPTION),
            "cognition": sum(v["score"] for c, v in sub.items() if c in COGNITION),
            "subtasks": sub,
        }

    def resample_unit(self, record):
        return record["pair"]


class FakeMMEStratified(FakeMME):
    """Declares the subtask as the resampling stratum."""

    def resample_stratum(self, record):
        return record["category"]


FAKES = {"pope": FakePope, "mme": FakeMME}


def install_fakes(monkeypatch, **extra):
    """The report sees docvqa (real), the fakes (pope, mme, or ``extra``), and no other task."""
    real = columns.task_class
    fakes = dict(FAKES, **extra)
    monkeypatch.setattr(
        columns,
        "task_class",
        lambda name: fakes.get(name) or (real(name) if name == "docvqa" else None),
    )


def docvqa_records(pairs, start: int = 0) -> list[dict]:
    """Records scored by the real DocVQA task; ``pairs`` = [(prediction, [answers]), ...]."""
    task = DocVQA()
    out = []
    for i, (pred, answers) in enumerate(pairs, start):
        doc = {"id": f"q{i}", "question": "What is written?", "answers": answers}
        out.append(
            {
                "id": doc["id"],
                "prompt": task.prompt(doc),
                "prediction": pred,
                **task.score(doc, pred),
            }
        )
    return out


def pope_records(rows) -> list[dict]:
    """``rows`` = [(answer, pred, split), ...] → POPE-like records."""
    return [
        {
            "id": f"p{i}",
            "prediction": pred.capitalize(),
            "answer": ans,
            "pred": pred,
            "split": split,
            "score": float(pred == ans),
        }
        for i, (ans, pred, split) in enumerate(rows)
    ]


def mme_records(rows) -> list[dict]:
    """``rows`` = [(category, pair, score), ...] → MME-like records."""
    return [
        {"id": f"m{i}", "prediction": "Yes", "answer": "Yes", "category": c, "pair": p, "score": s}
        for i, (c, p, s) in enumerate(rows)
    ]


def failed_record(i: int) -> dict:
    return {"id": f"fail{i}", "prediction": None, "failed": "image failed to decode"}


def write_run(
    path: Path,
    name: str,
    label: str,
    family: str | None,
    records: dict[str, list[dict]],
    model: str = "mllm",
    scores_extra: dict | None = None,
) -> Path:
    """Write one run folder; scores.json is the task's own aggregate over the non-failed records."""
    path = Path(path)
    (path / "predictions").mkdir(parents=True, exist_ok=True)
    scores = {}
    for task, recs in records.items():
        cls = columns.task_class(task)
        ok = [r for r in recs if r.get("prediction") is not None]
        metrics = cls().aggregate(ok)
        scores[task] = {
            "metric": cls.metric,
            "value": metrics[cls.metric],
            "n": len(ok),
            "failed": len(recs) - len(ok),
            "metrics": metrics,
            "protocol": "lmms-eval",
            "version": cls.version,
            "label": cls.label,
            "max_value": cls.max_value,
            "warnings": [],
        }
        scores[task].update((scores_extra or {}).get(task, {}))
        with (path / "predictions" / f"{task}.jsonl").open("w") as f:
            f.writelines(json.dumps(r) + "\n" for r in recs)
    (path / "scores.json").write_text(json.dumps(scores, indent=2))
    meta = {
        "encoder": {"name": name, "label": label, "family": family, "path": None},
        "model": {"name": model},
        "git_commit": "abc123",
        "tasks": {},
    }
    (path / "meta.json").write_text(json.dumps(meta, indent=2))
    return path


def make_grid(root: Path, monkeypatch, order=("demo_clip_l", "demo_unit_1b")) -> Path:
    """A grid folder with two runs (the numbers are worked out in tests/report/test_table.py).

    demo_clip_l (family clip_l): DocVQA 3 of 4 right (75.00); POPE TP=3 FP=1 FN=0 TN=4
    (F1 = 6/7 = 85.71); MME existence pairs (1,1) (1,0) -> 75 + 50 = 125, count pair (1,1)
    -> 200: perception 325.00; code_reasoning pair (0,0): cognition 0; one failed DocVQA sample.
    demo_unit_1b (family unit_1b): DocVQA 4 of 4 (100.00); POPE TP=2 FP=0 FN=2 TN=4
    (F1 = 2/3 = 66.67); no MME.
    """
    install_fakes(monkeypatch)
    right = [("invoice", ["invoice"]), ("1992", ["1992"]), ("Dan", ["dan"]), ("total", ["total"])]
    clip_doc = docvqa_records(right[:3] + [("zzzzzz", ["total"])]) + [failed_record(0)]
    clip_pope = pope_records(
        [("yes", "yes", "random")] * 3 + [("no", "yes", "popular")] + [("no", "no", "popular")] * 4
    )
    clip_mme = mme_records(
        [
            ("existence", "A", 1),
            ("existence", "A", 1),
            ("existence", "B", 1),
            ("existence", "B", 0),
            ("count", "C", 1),
            ("count", "C", 1),
            ("code_reasoning", "D", 0),
            ("code_reasoning", "D", 0),
        ]
    )
    unit_pope = pope_records(
        [("yes", "yes", "random")] * 2
        + [("yes", "no", "random")] * 2
        + [("no", "no", "popular")] * 4
    )
    grid = Path(root)
    write_run(
        grid / "demo_clip_l",
        "demo_clip_l",
        "CLIP-L (demo)",
        "clip_l",
        {"docvqa": clip_doc, "pope": clip_pope, "mme": clip_mme},
    )
    write_run(
        grid / "demo_unit_1b",
        "demo_unit_1b",
        "UNIT-1B (demo)",
        "unit_1b",
        {"docvqa": docvqa_records(right), "pope": unit_pope},
    )
    (grid / "config.yaml").write_text(
        "encoder:\n  name: demo\n  grid: [" + ", ".join(order) + "]\n"
    )
    return grid


def md_blocks(markdown: str) -> list[list[list[str]]]:
    """The tables of a Markdown document as lists of rows of cells (bold marks removed)."""
    blocks, cur = [], []
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip().replace("**", "") for c in line.strip().strip("|").split("|")]
            if not all(set(c) <= set(":-") for c in cells):
                cur.append(cells)
        elif cur:
            blocks.append(cur)
            cur = []
    if cur:
        blocks.append(cur)
    return blocks
