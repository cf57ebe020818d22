"""A minimal sequential engine (batches in dataset order, predictions written at the end)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import SampleError
from harness.models.base import Model
from tasks.base import Task


@dataclass
class EngineSettings:
    batch_size: int = 16
    num_workers: int = 0
    limit: int | None = None
    share_images: bool = True
    progress: bool = True
    resume_key: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskResult:
    records: list[dict]
    seconds: float
    n_generated: int


def failed_record(doc_id: str, reason: str, prompt: str | None = None) -> dict:
    return {"id": doc_id, "prompt": prompt, "prediction": None, "failed": reason}


def score_record(task: Task, doc: dict, prompt: str, prediction: str) -> dict:
    try:
        fields = task.score(doc, prediction)
    except SampleError as exc:
        return failed_record(doc["id"], str(exc), prompt) | {"prediction": prediction}
    return {"id": doc["id"], "prompt": prompt, "prediction": prediction, **fields}


def run_task(task: Task, model: Model, run_dir: Path, settings: EngineSettings) -> TaskResult:
    start = time.perf_counter()
    docs = task.docs()
    n = len(docs) if settings.limit is None else min(settings.limit, len(docs))
    records: list[dict | None] = [None] * n
    pending = []
    for i in range(n):
        doc = docs[i]
        try:
            pending.append((i, doc, task.build_request(doc)))
        except SampleError as exc:
            records[i] = failed_record(doc["id"], str(exc))
    generated = 0
    for b in range(0, len(pending), settings.batch_size):
        batch = pending[b:b + settings.batch_size]
        outputs = model.generate([req for _, _, req in batch])
        for (i, doc, req), out in zip(batch, outputs):
            if isinstance(out, SampleError):
                records[i] = failed_record(doc["id"], str(out), req.prompt)
            else:
                generated += 1
                records[i] = score_record(task, doc, req.prompt, out)
    pred_dir = Path(run_dir) / "predictions"
    pred_dir.mkdir(parents=True, exist_ok=True)
    with (pred_dir / f"{task.name}.jsonl").open("w", encoding="utf-8") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return TaskResult(records=[r for r in records if r is not None], seconds=time.perf_counter() - start,
                      n_generated=generated)
