"""Turning a batch's outputs into records, in a separate process while the model goes on.

Scoring is the task's business and can be slow (edit distances over long answers, a judge
model behind MathVista's extraction). With ``background=True`` it runs in one forked process,
so the model never waits for it: :meth:`Scorer.submit` hands over a batch, and the
records reach ``on_scored`` (which appends them to the journal) milliseconds later, in order,
while the model works on the next batch; :meth:`Scorer.close` waits for the rest. Without
it (or where ``fork`` is unavailable) the same function runs inline.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, MutableMapping
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from harness.contracts import TaskProtocol
from harness.engine.lifetime import die_with_parent
from harness.engine.store import normalize, sample_digest
from harness.errors import HarnessError, SampleError

if TYPE_CHECKING:
    from harness.engine.plan import Sample

_TASK: Any = None  # the task, in the scoring process
_SAMPLES: Any = None  # the plan's samples (documents, digests), in the scoring process
Entry = tuple[int, str, str | None, object]
"""(dataset index, id, prompt, the model's output: text or SampleError) of one sample."""


def failed_record(doc_id: str, reason: str, prompt: str | None = None) -> dict[str, Any]:
    return {"id": doc_id, "prompt": prompt, "prediction": None, "failed": reason}


def as_empty_answer(
    task: TaskProtocol, doc: dict[str, Any], record: dict[str, Any]
) -> dict[str, Any]:
    """A failed sample's record, also scored as an empty answer (what a peer scores for a
    sample its model did not answer), so the headline counts it as wrong; ``failed`` and the
    prediction stay as they were. A sample whose empty answer cannot be scored (a malformed
    reference) keeps no score fields; the headline counts it by scaling (see results)."""
    try:
        fields = task.score(doc, "")
    except Exception:  # noqa: BLE001 (a malformed record: any error of the task's scorer)
        return record
    return {**fields, **record, "score": fields.get("score", 0.0)}


def score_record(
    task: TaskProtocol, doc: dict[str, Any], prompt: str | None, prediction: str
) -> dict[str, Any]:
    try:
        fields = task.score(doc, prediction)
    except SampleError as exc:
        failed = failed_record(doc["id"], str(exc), prompt) | {"prediction": prediction}
        return as_empty_answer(task, doc, failed)
    return {"id": doc["id"], "prompt": prompt, "prediction": prediction, **fields}


def known_digest(task: TaskProtocol, doc: dict[str, Any], sample: Sample | None) -> str:
    """The sample's digest as the planner computed it, else computed from ``doc``."""
    if sample is not None and sample.digest is not None:
        return sample.digest
    return sample_digest(task, doc)


def make_records(
    task: TaskProtocol, entries: list[Entry], samples: MutableMapping[int, Sample] | None = None
) -> list[dict[str, Any]]:
    """Records of (dataset index, id, prompt, output) entries: scored text, or a failure
    (scored as an empty answer), each with the digest of its dataset sample.

    The document and digest are the plan's (``samples``: each row read once, by the planner;
    inherited by the scoring process when scoring runs in the background, so they never travel
    between processes); a sample the plan does not hold is read from the task here. A sample
    is dropped from ``samples`` once its record is made (memory does not grow with the set).
    """
    recs = []
    for index, doc_id, prompt, out in entries:
        sample = samples.pop(index, None) if samples is not None else None
        doc = sample.doc if sample is not None else task.docs()[index]
        if isinstance(out, SampleError):
            rec = as_empty_answer(task, doc, failed_record(doc_id, str(out), prompt))
        elif isinstance(out, str):
            rec = score_record(task, doc, prompt, out)
        else:
            raise HarnessError(
                f"model returned {type(out).__name__} for sample {doc_id!r}; expected text or "
                "SampleError"
            )
        rec["digest"] = known_digest(task, doc, sample)
        recs.append(normalize(rec))
    return recs


def _init(
    task: TaskProtocol, parent: int, samples: MutableMapping[int, Sample] | None = None
) -> None:
    global _TASK, _SAMPLES
    die_with_parent(parent)  # a SIGKILLed run leaves no scoring process behind
    _TASK, _SAMPLES = task, samples
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process decides when to stop


def _score(entries: list[Entry]) -> list[dict[str, Any]]:
    return make_records(_TASK, entries, _SAMPLES)


class Scorer:
    """Hands batches to the scoring process; ``on_scored(records)`` runs as soon as each batch
    is scored, in submission order (from the executor's thread, or inline)."""

    def __init__(
        self,
        task: TaskProtocol,
        background: bool,
        on_scored: Callable[[list[dict[str, Any]]], None],
        samples: MutableMapping[int, Sample] | None = None,
    ) -> None:
        self.task, self.on_scored, self.samples = task, on_scored, samples
        self._pending: deque[Future[list[dict[str, Any]]]] = deque()
        self._lock = threading.Lock()
        self._error: BaseException | None = None  # raised by on_scored in the executor's thread
        fork = "fork" in multiprocessing.get_all_start_methods()
        self._pool = (
            ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_init,
                initargs=(task, os.getpid(), samples),  # forked: inherited, not pickled
            )
            if background and fork
            else None
        )
        if (
            self._pool is not None
        ):  # fork now, before the data-loader workers and their threads exist
            self._pool.submit(int)

    def submit(self, entries: list[Entry]) -> None:
        self.check()
        if self._pool is None:
            self._deliver(make_records(self.task, entries, self.samples))
            return
        if self.samples is not None:  # the scoring process has its own copy (forked)
            for entry in entries:
                self.samples.pop(entry[0], None)
        fut = self._pool.submit(_score, entries)
        fut.add_done_callback(
            lambda f: None if f.cancelled() or f.exception() else self._deliver(f.result())
        )
        self._pending.append(fut)

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        with self._lock:
            if self._error is not None:  # after a failed write nothing more is written
                return
            try:
                self.on_scored(records)
            except BaseException as exc:  # noqa: BLE001 (kept for the main thread: a callback's
                self._error = exc  # exception would otherwise be logged and lost)
                if self._pool is None:
                    raise

    def check(self, wait: bool = False) -> None:
        """Re-raise the first scoring or saving error (waiting for every batch with ``wait``)."""
        while self._pending and (wait or self._pending[0].done()):
            self._pending.popleft().result()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Wait for every submitted batch to be scored and delivered; raise a scoring error."""
        try:
            self.check(wait=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
