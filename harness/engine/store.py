"""The prediction store: ``predictions/<task>.jsonl``, appended as batches finish, resumable.

Layout of ``run_dir/predictions/``::

    <task>.jsonl          one JSON record per line; during a run, records in completion order
                          (the journal); at the end, this run's records in dataset order
    <task>.resume.json    the resume key the records were made under
    <task>.extra.jsonl    finished records outside this run's selection (e.g. a smaller limit)
    parts/<task>.rank<r>.jsonl   journal of rank r > 0 under torchrun (removed at the end)
    old/                  files of earlier runs whose resume key differs (kept, never deleted)

A crash can leave a partial last line: it is dropped when the journal is read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from harness.contracts import TaskProtocol
from harness.engine.files import atomic_write_lines, atomic_write_text, is_write_fault, write_error
from harness.errors import HarnessError
from harness.fingerprint import obj_fingerprint

log = logging.getLogger("harness.engine")


def normalize(obj: Any) -> Any:
    """``obj`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(obj, ensure_ascii=False, default=str))


def read_journal(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of a JSON-lines journal and notes on lines dropped.

    A last line without its newline is what a crash mid-write leaves: dropped. A line that does
    not parse elsewhere is dropped too (and named), since its sample is simply computed again.
    """
    if not path.is_file():
        return [], []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records, notes = [], []
    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        rec = _parse(raw)
        if rec is None:
            notes.append(f"{path}:{lineno}: unreadable line dropped")
        else:
            records.append(rec)
    if tail.strip():
        rec = _parse(tail)
        if rec is None:
            notes.append(f"{path}:{len(lines) + 1}: partial last line (interrupted write) dropped")
        else:
            records.append(rec)
    return records, notes


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        rec = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return rec if isinstance(rec, dict) and "id" in rec else None


def sample_digest(task: TaskProtocol, doc: dict[str, Any]) -> str:
    """A short digest of what a sample asks and expects (its prompt and reference answers),
    stored in each prediction record so a resumed record is checked against the dataset sample
    it claims to be. A part that cannot be built (a malformed record) counts as null."""
    parts: list[object] = []
    for get in (task.prompt, task.reference):
        try:
            parts.append(get(doc))
        except Exception:  # noqa: BLE001 (the same malformed record fails the same way each time)
            parts.append(None)
    parts.append(doc.get("answers", doc.get("answer")))
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def key_diff(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The leaves that differ between two resume keys, as ``path: old -> new``.

    >>> key_diff(
    ...     {"gen": {"max_new_tokens": 16}, "task": "gqa"},
    ...     {"gen": {"max_new_tokens": 32}, "task": "gqa"},
    ... )
    ['gen.max_new_tokens: 16 -> 32']
    """
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new), key=str):
            out += key_diff(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


class PredictionStore:
    """One task's predictions in one run folder, for one rank."""

    def __init__(self, folder: Path, task: str, key: dict[str, Any], rank: int = 0):
        self.folder = Path(folder)
        self.task = task
        self.key = normalize(key)
        self.rank = rank
        self.main = self.folder / f"{task}.jsonl"
        self.extra = self.folder / f"{task}.extra.jsonl"
        self.keyfile = self.folder / f"{task}.resume.json"
        self.parts_dir = self.folder / "parts"
        self.journal = self.main if rank == 0 else self.parts_dir / f"{task}.rank{rank}.jsonl"
        self._fh: TextIO | None = None

    # ---- rank 0: resume ------------------------------------------------------------------
    def load(self, resume: bool = True) -> dict[str, dict[str, Any]]:
        """Finished records under this key, by id; a file made under another key is moved to
        ``old/``. The journal is rewritten clean (partial line dropped, rank parts merged)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        files = [p for p in (self.main, self.extra, *self._parts()) if p.is_file()]
        old_key = self._stored_key()
        if files and (not resume or old_key != self.key):
            self._move_aside(files, old_key, resume)
            files = []
        records: dict[str, dict[str, Any]] = {}
        for path in files:
            recs, notes = read_journal(path)
            for note in notes:
                log.warning("%s", note)
            for rec in recs:  # a later line for the same id is a retry: it wins
                records[str(rec["id"])] = rec
        self._write_key()
        self._rewrite(self.main, records.values())
        for path in files:
            if path != self.main:
                path.unlink()
        if records:
            log.info(
                "%s: resuming, %d finished sample(s) read from %s",
                self.task,
                len(records),
                self.main,
            )
        return records

    def _parts(self) -> list[Path]:
        return (
            sorted(self.parts_dir.glob(f"{self.task}.rank*.jsonl"))
            if self.parts_dir.is_dir()
            else []
        )

    def _stored_key(self) -> Any:
        try:
            return json.loads(self.keyfile.read_text(encoding="utf-8")).get("resume_key")
        except (OSError, json.JSONDecodeError, AttributeError):
            return None

    def _write_key(self) -> None:
        doc = {"task": self.task, "key_hash": obj_fingerprint(self.key), "resume_key": self.key}
        try:
            atomic_write_text(self.keyfile, json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            raise self._fault(exc, self.keyfile) from None

    def _fault(self, exc: OSError, path: Path) -> BaseException:
        """A write fault as one line that says what is kept; other errors unchanged."""
        if not is_write_fault(exc):
            return exc
        return write_error(exc, path, f"finished samples are kept in {self.journal}")

    def _rewrite(self, path: Path, records: Iterable[dict[str, Any] | str]) -> None:
        try:
            atomic_write_lines(path, records)
        except OSError as exc:
            raise self._fault(exc, path) from None

    def _move_aside(self, files: list[Path], old_key: Any, resume: bool) -> None:
        tag = obj_fingerprint(old_key) if old_key is not None else "unknown-key"
        dest = self.folder / "old"
        dest.mkdir(exist_ok=True)
        n = 0
        while any((dest / f"{tag}{'-' + str(n) if n else ''}.{p.name}").exists() for p in files):
            n += 1
        suffix = f"{tag}{'-' + str(n) if n else ''}"
        for p in files + ([self.keyfile] if self.keyfile.is_file() else []):
            os.replace(p, dest / f"{suffix}.{p.name}")
        if not resume:
            why = "resume disabled"
        elif old_key is None:
            why = "no resume key recorded with them"
        else:
            why = "settings changed: " + "; ".join(key_diff(old_key, self.key)[:4])
        log.warning(
            "%s: not reusing earlier predictions (%s); starting a new file, the old one is kept as "
            "%s",
            self.task,
            why,
            dest / f"{suffix}.{self.main.name}",
        )

    # ---- every rank: the journal ---------------------------------------------------------
    def open(self) -> None:
        """Open this rank's journal for appending (rank > 0 starts its part afresh: rank 0 has
        already merged any earlier part it could see)."""
        try:
            self.journal.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.journal.open("a" if self.rank == 0 else "w", encoding="utf-8")
        except OSError as exc:
            raise self._fault(exc, self.journal) from None

    def append(self, records: Iterable[dict[str, Any]]) -> list[str]:
        """Write finished records as one block and flush it to the OS (survives a killed process);
        returns their lines (JSON, without the newline). A failed write closes the journal (what
        was flushed before stays) and raises one line."""
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        text = "".join(line + "\n" for line in lines)
        if not text or self._fh is None:
            return lines
        try:
            self._fh.write(text)
            self._fh.flush()
        except OSError as exc:
            self._abandon()
            raise self._fault(exc, self.journal) from None
        return lines

    def _abandon(self) -> None:
        """Close after a failed write without flushing again (the buffer holds a partial block)."""
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            os.close(fh.fileno())
        except OSError:
            pass
        try:
            fh.close()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        if self._fh is None:
            return
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        except OSError as exc:
            self._abandon()
            raise self._fault(exc, self.journal) from None

    # ---- the end --------------------------------------------------------------------------
    def finalize(
        self, records: Iterable[dict[str, Any] | str], extras: list[dict[str, Any]]
    ) -> None:
        """Rank 0: the task's file becomes ``records`` in dataset order (a ``str`` is a record's
        line, written as is); ``extras`` (finished records outside this run's selection) are
        kept beside it."""
        if extras:
            self._rewrite(self.extra, extras)
        elif self.extra.exists():
            self.extra.unlink()
        self._rewrite(self.main, records)

    def remove_part(self) -> None:
        if self.rank != 0 and self.journal.exists():
            self.journal.unlink()
            try:
                self.parts_dir.rmdir()
            except OSError:
                pass  # other ranks' parts still there


def resumable(
    loaded: dict[str, dict[str, Any]], task: str, retry_failed: bool = True
) -> dict[str, dict[str, Any]]:
    """The finished records a run reuses: failed samples are dropped (run again) unless
    ``retry_failed`` is off; records without a sample digest (an older harness) are run again.

    >>> recs = {"a": {"id": "a", "digest": "x"}, "b": {"id": "b", "digest": "y", "failed": "oom"},
    ...         "c": {"id": "c"}}
    >>> sorted(resumable(recs, "t")), sorted(resumable(recs, "t", retry_failed=False))
    (['a'], ['a', 'b'])
    """
    keep = {
        k: r
        for k, r in loaded.items()
        if r.get("digest") and (not retry_failed or r.get("failed") is None)
    }
    retried = sum(r.get("failed") is not None and bool(r.get("digest")) for r in loaded.values())
    undigested = sum(not r.get("digest") for r in loaded.values())
    if retry_failed and retried:
        log.info(
            "%s: retrying %d sample(s) that failed in an earlier run "
            "(retry_failed=false keeps them)",
            task,
            retried,
        )
    if undigested:
        log.warning(
            "%s: %d earlier record(s) carry no sample digest (an older harness): computed again",
            task,
            undigested,
        )
    return keep


def check_resumed(
    task: TaskProtocol,
    docs: Sequence[dict[str, Any]],
    ids: list[str],
    loaded: dict[str, dict[str, Any]],
    path: Path,
    digests: Mapping[int, str] | None = None,
) -> None:
    """Each resumed record must be the dataset sample it claims to be (same prompt and answers);
    a record of another task or dataset with the same id is a one-line error. ``digests``: the
    samples' digests by index where the planner computed them (their rows are not read again)."""
    for index, doc_id in enumerate(ids):
        rec = loaded.get(doc_id)
        if rec is None:
            continue
        known = digests.get(index) if digests is not None else None
        if rec.get("digest") != (known if known is not None else sample_digest(task, docs[index])):
            raise HarnessError(
                f"{path}: the record for id {doc_id!r} does not match the dataset's sample with "
                f"that id (another prompt or answers): the file holds another task's or dataset's "
                f"predictions; move it away or choose another output_dir"
            )
