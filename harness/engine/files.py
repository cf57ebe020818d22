"""Writing the run folder safely: one atomic-write helper, write faults as one-line errors, the
output folder checked (and locked) before any work starts.

Every file the harness rewrites goes through :func:`atomic_write_text` (a uniquely named temporary
file in the same folder, flushed, fsynced, then ``os.replace``): two writers never share a
temporary name and a reader never sees half a file. A write that fails for a reason the user
can fix (disk full, read-only, a per-file size limit, a path below a regular file) becomes a
:class:`HarnessError` naming the file and what to do.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

# errno -> what the user can do about it
_FIXES = {
    errno.ENOSPC: "free some space",
    errno.EDQUOT: "free some space (disk quota exceeded)",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
    errno.EROFS: "choose a writable output_dir",
    errno.EACCES: "choose a writable output_dir",
    errno.EPERM: "choose a writable output_dir",
    errno.ENOTDIR: "choose an output_dir that is not below a regular file",
    errno.EEXIST: "remove the file in the way or choose another output_dir",
    errno.EISDIR: "remove the folder in the way or choose another output_dir",
}
DEFAULT_MIN_FREE_MB = 16  # a run's predictions, scores and meta for ten tasks take a few MiB


def is_write_fault(exc: BaseException) -> bool:
    """An OSError a user can act on (space, permissions, limits, paths)."""
    return isinstance(exc, OSError) and exc.errno in _FIXES


def write_error(exc: OSError, path: str | Path, kept: str = "") -> HarnessError:
    """The one-line error of a failed write to ``path``.

    >>> print(write_error(OSError(errno.ENOSPC, "No space left on device"), "/r/x"))
    cannot write /r/x: No space left on device; free some space and re-run the same command
    """
    why = exc.strerror or type(exc).__name__
    fix = _FIXES.get(exc.errno or 0, "check the output folder")
    tail = f"; {kept}" if kept else ""
    return HarnessError(f"cannot write {path}: {why}; {fix} and re-run the same command{tail}")


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Replace ``path`` at once with what ``write(tmp)`` writes to a temporary file named
    uniquely beside it (so concurrent writers never share one); removed on failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)  # reopened by name: the write is visible to audit hooks like any other
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` at once (flushed to disk before the rename)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_lines(path: str | Path, records: Iterable[dict[str, Any] | str]) -> None:
    """``records`` as JSON lines, atomically (a ``str`` is a record's line already encoded);
    written a block of lines at a time (memory of a block, not of the whole file's text)."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            block: list[str] = []
            for r in records:
                block.append(
                    (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n"
                )
                if len(block) == 256:
                    f.write("".join(block))
                    block.clear()
            f.write("".join(block))
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def write_json(path: str | Path, obj: Any) -> None:
    """``obj`` as indented JSON, atomically; a write fault is a one-line error."""
    try:
        atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")
    except OSError as exc:
        if is_write_fault(exc):
            raise write_error(exc, path) from None
        raise


def ignore_file_size_signal() -> None:
    """Past a per-file size limit (``ulimit -f``) the OS sends SIGXFSZ, which kills the process
    without a word; ignored, the write raises EFBIG instead and is reported."""
    sig = getattr(signal, "SIGXFSZ", None)
    if sig is not None:
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread
            pass


def check_output_dir(path: str | Path, min_free_mb: float | None = None) -> Path:
    """Create ``path`` and prove it writable with enough free space, before any work starts.

    One-line errors: a path below a regular file, a regular file in place of the folder, a
    read-only or full file system, a per-file size limit of zero.
    """
    out = Path(os.path.expanduser(str(path)))
    for parent in [out, *out.parents]:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                where = "is" if parent == out else f"is below {parent}, which is"
                raise HarnessError(
                    f"output_dir {out} {where} a regular file, not a folder; choose another "
                    f"output_dir"
                )
            break
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / ".write-check", "ok\n")
        (out / ".write-check").unlink()
    except OSError as exc:
        if is_write_fault(exc):
            raise HarnessError(
                f"output_dir {out} is not writable: {exc.strerror}; {_FIXES[exc.errno or 0]}"
            ) from None
        raise
    need = DEFAULT_MIN_FREE_MB if min_free_mb is None else float(min_free_mb)
    free = shutil.disk_usage(out).free / 2**20
    if free < need:
        raise HarnessError(
            f"output_dir {out}: only {free:.1f} MiB free, at least {need:g} MiB needed; free "
            f"some space or choose another output_dir"
        )
    return out


class OutputLock:
    """An exclusive lock on an output folder (``<dir>/.lock``, fcntl): a second run on the same
    folder refuses with one line. The OS releases it on any exit, SIGKILL included."""

    NAME = ".lock"

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / self.NAME
        self._fd: int | None = None

    def acquire(self) -> OutputLock:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            if is_write_fault(exc):
                raise write_error(exc, self.path) from None
            raise
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise HarnessError(
                f"output_dir {self.path.parent} is in use by another run (pid {holder}); wait for "
                f"it to finish or choose another output_dir"
            ) from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:  # the pid is only a courtesy to the second run's message
            pass
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def open_output(path: str | Path, min_free_mb: float | None = None) -> OutputLock:
    """Before any work: the output folder exists, is writable, has room, and is this run's
    alone (the lock is held until :meth:`OutputLock.release` or the process ends)."""
    return OutputLock(check_output_dir(path, min_free_mb)).acquire()


def fault_message(exc: OSError) -> str | None:
    """The one-line error of a write fault that reached the entry point, else None."""
    if not is_write_fault(exc):
        return None
    return str(write_error(exc, exc.filename or "the output folder"))
