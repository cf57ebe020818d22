"""The evaluation engine: requests → batches → model → per-sample scored records.

Contract used by the runner (``harness.runner``)::

    result = run_task(task, model, run_dir, settings)
    result.records   # one dict per sample, in dataset order: {"id", "prompt", "prediction",
                     # **task.score(doc, prediction)} or {"id", "prediction": None, "failed": reason}
    result.seconds, result.n_generated

The engine owns ``run_dir/predictions/<task>.jsonl``.
"""
from __future__ import annotations

from harness.engine.core import EngineSettings, TaskResult, run_task

__all__ = ["EngineSettings", "TaskResult", "run_task"]
