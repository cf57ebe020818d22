"""The evaluation engine: requests → sorted batches → model → per-sample scored records.

Contract used by the runner (``harness.runner``)::

    result = run_task(task, model, run_dir, settings)
    result.records   # one dict per sample, in dataset order:
                     # {"id", "prompt", "prediction", **task.score(doc, prediction)}
                     # or {"id", "prediction": None, "failed": reason}
    result.seconds, result.n_generated, result.n_resumed, result.timings

The engine owns ``run_dir/predictions/`` (see :mod:`harness.engine.store`): predictions are
appended as batches finish, and re-running the same command resumes. Under ``torchrun`` the
samples are sharded across ranks (:mod:`harness.engine.dist`) and rank 0 writes the result.

Each dataset row is read once (by the planner, :mod:`harness.engine.plan`). The engine imports
torch only when it is used (DataLoader workers, a model's tensors, ``torchrun``): an oracle or
replay run never does.
"""

from __future__ import annotations

from harness.engine.core import EngineSettings, TaskResult, run_task
from harness.engine.dist import DistContext, context, init_from_env
from harness.engine.interrupt import Interrupted, resume_hint

__all__ = [
    "DistContext",
    "EngineSettings",
    "Interrupted",
    "TaskResult",
    "context",
    "init_from_env",
    "resume_hint",
    "run_task",
]
