"""``model=replay model.predictions=FILE``: answers from a JSON-lines file of ``{"id", "prediction"}``.

The file may hold several tasks' predictions; ids are matched per task when lines carry a
``task`` key, else globally. A request whose id is absent is a failed sample, not a crash.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError, SampleError
from harness.fingerprint import file_sha256
from harness.jsonl import json_lines
from harness.models.base import Model
from harness.types import Request


def read_predictions(path: str | Path) -> dict[str, str]:
    """Read ``{"id": ..., "prediction": ...}`` lines into ``{"[task/]id": prediction}``."""
    p = Path(path)
    if not p.is_file():
        raise HarnessError(f"replay predictions file not found: {p}")
    preds: dict[str, str] = {}
    for lineno, rec in json_lines(p):
        if not isinstance(rec, dict) or "id" not in rec or "prediction" not in rec:
            raise HarnessError(f"{p}:{lineno}: not a {{\"id\", \"prediction\"}} JSON object")
        key, pred = str(rec["id"]), rec["prediction"]
        if pred is None:  # a failed sample in a saved run
            continue
        if rec.get("task"):
            preds[f"{rec['task']}/{key}"] = str(pred)
        preds.setdefault(key, str(pred))
    return preds


class ReplayModel(Model):
    name = "replay"

    def __init__(self, predictions: str | Path):
        if not predictions:
            raise HarnessError("model=replay needs model.predictions=FILE (a JSON-lines file of {id, prediction})")
        self.path = Path(predictions)
        self.preds = read_predictions(self.path)
        self.task: str | None = None  # set by the runner before each task

    def generate(self, requests: Sequence[Request]) -> list[str | SampleError]:
        out: list[str | SampleError] = []
        for r in requests:
            pred = self.lookup(r)
            out.append(pred if pred is not None else SampleError(f"replay: no prediction for id {r.id!r} in {self.path}"))
        return out

    def lookup(self, r: Request) -> str | None:
        """By id (task-qualified first), then by alias (the dataset row index)."""
        for key in (r.id, *r.aliases):
            for k in ((f"{self.task}/{key}",) if self.task else ()) + (key,):
                if k in self.preds:
                    return self.preds[k]
        return None

    def fingerprint(self) -> dict:
        return {"model": self.name, "predictions_sha256": file_sha256(self.path)}
