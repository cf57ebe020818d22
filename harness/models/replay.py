"""``model=replay model.predictions=FILE``: answers from saved predictions.

``FILE`` is this project's JSON lines (``{"id", "prediction"[, "task"]}``), an lmms-eval
``--log_samples`` file, a VLMEvalKit ``.xlsx``/``.tsv`` prediction sheet, or a folder of such
files (one per task); ``model.predictions_format`` overrides the detection (see
:mod:`harness.models.replay_formats`).

Validation, each a one-line error naming the file and line: a line that is not UTF-8 or not
JSON, one id with two different predictions (the same prediction twice is fine), and, once the
run's tasks are known (:meth:`ReplayModel.check_tasks`), an id that is in none of their
datasets. A sample without a prediction is a failed sample (``no prediction in FILE``), and
their count per task is reported before the task runs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.contracts import TaskProtocol
from harness.errors import HarnessError, SampleError
from harness.fingerprint import file_sha256, obj_fingerprint
from harness.models.base import Model
from harness.models.replay_formats import Entry, files_of, read_entries
from harness.types import Request

log = logging.getLogger("harness")

Key = tuple[str | None, str, str]  # (task or None, match kind, key)


def index_entries(entries: Sequence[Entry]) -> dict[Key, Entry]:
    """Entries by (task, match kind, key); an id given twice with different predictions is an
    error."""
    table: dict[Key, Entry] = {}
    for e in entries:
        k = (e.task, e.match, e.key)
        first = table.get(k)
        if first is None:
            table[k] = e
        elif first.prediction != e.prediction:
            raise HarnessError(
                f"{e.where}: id {e.key!r}{f' ({e.task})' if e.task else ''} has a second, "
                f"different prediction (first at {first.where}); keep one"
            )
    return table


def read_predictions(path: str | Path, fmt: str | None = None) -> dict[str, str]:
    """``{"[task/]id": prediction}`` of a predictions file (failed samples left out)."""
    out: dict[str, str] = {}
    for e in index_entries(read_entries(path, fmt)).values():
        if e.prediction is not None:
            out[f"{e.task}/{e.key}" if e.task else e.key] = e.prediction
    return out


class ReplayModel(Model):
    name = "replay"

    def __init__(self, predictions: str | Path | None, fmt: str | None = None) -> None:
        super().__init__()
        if not predictions:
            raise HarnessError(
                "model=replay needs model.predictions=FILE (JSON lines of {id, prediction}, "
                "an lmms-eval samples_<task>.jsonl, or a VLMEvalKit .xlsx/.tsv)"
            )
        self.path = Path(predictions)
        self.format = fmt or "auto"
        self.table = index_entries(read_entries(self.path, self.format))
        self.task: str | None = None  # set by the engine before each task (bind_task)

    def bind_task(self, task: TaskProtocol) -> None:
        """Look up ``task``'s task-qualified ids first."""
        self.task = task.name

    # ---- answering ----------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> list[str | SampleError]:
        out: list[str | SampleError] = []
        for r in requests:
            e = self.lookup(r)
            if e is None:
                out.append(SampleError(f"no prediction in {self.path}"))
            elif e.prediction is None:
                out.append(
                    SampleError(f"no prediction in {self.path} (failed in its source, {e.where})")
                )
            else:
                out.append(e.prediction)
        return out

    def lookup(self, r: Request) -> Entry | None:
        """Task-qualified entries first, then untagged ones; by id, then by row index."""
        return self._find(self.task, r.id, r.aliases)

    def _find(self, task: str | None, doc_id: str, aliases: Sequence[str]) -> Entry | None:
        keys = [("any", doc_id)] + [("any", a) for a in aliases] + [("index", a) for a in aliases]
        for t in (task, None) if task else (None,):
            for match, key in keys:
                e = self.table.get((t, match, key))
                if e is not None:
                    return e
        return None

    # ---- validation against the run's datasets -------------------------------------------
    def check_tasks(self, tasks: Sequence[TaskProtocol], limit: int | None = None) -> None:
        """Before generating: every saved id must belong to a dataset of the run (tagged ids to
        their task's), and the samples without a prediction are counted per task (a warning,
        also recorded with the task's scores)."""
        names = {t.name for t in tasks}
        known: dict[str, tuple[set[str], set[str]]] = {}
        for task in tasks:
            docs = task.docs()
            known[task.name] = (
                {str(d["id"]) for d in docs},
                {str(d["_index"]) for d in docs if "_index" in d},
            )
        for e in self.table.values():
            if e.task is not None and e.task not in names:
                continue  # another task's predictions in the same file
            where = [e.task] if e.task is not None else list(known)
            hits = [t for t in where if _matches(e, *known[t])]
            if not hits:
                raise HarnessError(
                    f"{e.where}: id {e.key!r} is not in the {_list(where)} dataset "
                    f"({_source(tasks, where)}); "
                    "wrong file or wrong dataset?"
                )
        for task in tasks:
            self._report_missing(task, limit)

    def _report_missing(self, task: TaskProtocol, limit: int | None) -> None:
        docs = task.docs()
        n = len(docs) if limit is None else max(0, min(int(limit), len(docs)))
        missing, first = 0, None
        for i in range(n):
            d = docs[i]
            aliases = (str(d["_index"]),) if "_index" in d else ()
            e = self._find(task.name, str(d["id"]), aliases)
            if e is None or e.prediction is None:
                missing += 1
                first = first if first is not None else str(d["id"])
        if missing:
            msg = (
                f"replay: {self.path} has no prediction for {missing} of {n} {task.name} sample(s) "
                f"(e.g. id {first!r}); they count as failed samples"
            )
            log.warning("%s", msg)
            if msg not in task.warnings:
                task.warnings.append(msg)

    def fingerprint(self) -> dict[str, Any]:
        files = files_of(self.path)
        digest = (
            file_sha256(files[0])
            if len(files) == 1 and files[0] == self.path
            else obj_fingerprint({str(f.name): file_sha256(f) for f in files})
        )
        return {"model": self.name, "predictions_sha256": digest}

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "predictions": str(self.path),
            "predictions_format": self.format,
        }


def _matches(e: Entry, ids: set[str], rows: set[str]) -> bool:
    return e.key in rows if e.match == "index" else (e.key in ids or e.key in rows)


def _list(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _source(tasks: Sequence[TaskProtocol], names: list[str]) -> str:
    paths = [str(t.dataset.get("path") or "?") for t in tasks if t.name in names]
    return ", ".join(sorted(set(paths)))[:200]
