"""Turning a batch's outputs into records, in a separate process while the model goes on.

Scoring is the task's business and can be slow (edit distances over long answers, a judge
model behind MathVista's extraction). With ``background=True`` it runs in one forked process,
so the model never waits for it: :meth:`Scorer.submit` hands over a batch,
:meth:`Scorer.ready` returns the batches scored so far, in submission order, and
:meth:`Scorer.close` waits for the rest. Without it (or where ``fork`` is unavailable) the
same function runs inline.
"""
from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from harness.engine.store import normalize
from harness.errors import HarnessError, SampleError

_TASK: Any = None  # the task, in the scoring process


def failed_record(doc_id: str, reason: str, prompt: str | None = None) -> dict:
    return {"id": doc_id, "prompt": prompt, "prediction": None, "failed": reason}


def score_record(task, doc: dict, prompt: str | None, prediction: str) -> dict:
    try:
        fields = task.score(doc, prediction)
    except SampleError as exc:
        return failed_record(doc["id"], str(exc), prompt) | {"prediction": prediction}
    return {"id": doc["id"], "prompt": prompt, "prediction": prediction, **fields}


def make_records(task, entries: list[tuple[str, str | None, Any, dict]]) -> list[dict]:
    """Records of (id, prompt, output, doc) entries: scored text, or a failure."""
    recs = []
    for doc_id, prompt, out, doc in entries:
        if isinstance(out, SampleError):
            rec = failed_record(doc_id, str(out), prompt)
        elif isinstance(out, str):
            rec = score_record(task, doc, prompt, out)
        else:
            raise HarnessError(f"model returned {type(out).__name__} for sample {doc_id!r}; expected text or SampleError")
        recs.append(normalize(rec))
    return recs


def _init(task) -> None:
    global _TASK
    _TASK = task
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop


def _score(entries: list) -> list[dict]:
    return make_records(_TASK, entries)


class Scorer:
    def __init__(self, task, background: bool):
        self.task = task
        self._pending: deque[Future] = deque()
        fork = "fork" in multiprocessing.get_all_start_methods()
        self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=_init,
                                         initargs=(task,)) if background and fork else None

    def submit(self, entries: list) -> None:
        if self._pool is None:
            fut: Future = Future()
            fut.set_result(make_records(self.task, entries))
        else:
            fut = self._pool.submit(_score, entries)
        self._pending.append(fut)

    def ready(self, wait: bool = False) -> list[dict]:
        """Records of the batches scored so far (all submitted ones with ``wait``), in order."""
        out: list[dict] = []
        while self._pending and (wait or self._pending[0].done()):
            out.extend(self._pending.popleft().result())  # re-raises a scoring error
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
