"""Ctrl-C stops cleanly: the batch in flight finishes, its predictions are saved, the run says
how to resume. A second Ctrl-C stops at once (what is saved stays saved)."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import NoReturn


class Interrupted(KeyboardInterrupt):
    """Raised by the engine after a graceful stop; the message says what was saved, ``signum``
    which signal asked for it (the exit status is 128 + signum: 130 for Ctrl-C, 143 for SIGTERM)."""

    signum: int = signal.SIGINT


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the engine's batch loop (loading, writing results)."""

    signum: int = signal.SIGTERM


def exit_status(exc: BaseException) -> int:
    """The exit status of a run stopped by ``exc``: 128 + the signal's number.

    >>> exit_status(KeyboardInterrupt()), exit_status(Terminated())
    (130, 143)
    """
    return 128 + int(getattr(exc, "signum", signal.SIGINT))


def _terminate(signum: int, frame: FrameType | None) -> NoReturn:
    raise Terminated


def exit_on_sigterm() -> None:
    """SIGTERM stops the run like Ctrl-C (resume hint) but exits 143 (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


class GracefulStop:
    """Within the block, the first SIGINT/SIGTERM only sets ``requested``."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum = int(signal.SIGINT)  # the first signal received
        self._old: dict[int, object] = {}

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise Terminated if self.signum == signal.SIGTERM else KeyboardInterrupt
        self.requested = True
        self.signum = int(signum)
        again = "press Ctrl-C again" if signum == signal.SIGINT else "send the signal again"
        print(
            f"\nstopping after the current batch ({again} to stop at once)",
            file=sys.stderr,
            flush=True,
        )


def resume_command(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> str:
    """The command line that resumes this run (the same command: finished samples are skipped).

    >>> resume_command(["/x/harness/__main__.py", "task=gqa", "limit=5"], {})
    'python -m harness task=gqa limit=5'
    >>> resume_command(
    ...     ["/x/harness/__main__.py", "task=gqa"], {"WORLD_SIZE": "4", "LOCAL_WORLD_SIZE": "2"}
    ... )
    'torchrun --nnodes 2 --nproc-per-node 2 -m harness task=gqa'
    """
    argv = sys.argv if argv is None else argv
    env = os.environ if env is None else env
    args = " ".join(shlex.quote(a) for a in argv[1:])
    prog = Path(argv[0]) if argv else Path("harness")
    module = prog.name == "__main__.py" and prog.parent.name == "harness" or prog.name == "harness"
    world, local = (
        int(env.get("WORLD_SIZE", 1)),
        int(env.get("LOCAL_WORLD_SIZE", env.get("WORLD_SIZE", 1))),
    )
    if world > 1:
        nodes = f"--nnodes {world // local} " if world > local else ""
        target = "-m harness" if module else shlex.quote(str(prog))
        return f"torchrun {nodes}--nproc-per-node {local} {target} {args}".rstrip()
    head = (
        "python -m harness" if module else f"{shlex.quote(sys.executable)} {shlex.quote(str(prog))}"
    )
    return f"{head} {args}".rstrip()


def resume_hint(exc: BaseException) -> str:
    """The message printed when a run is interrupted."""
    what = str(exc).strip() if isinstance(exc, Interrupted) else "interrupted"
    return (
        f"{what}\nresume with the same command (finished samples are kept):\n  {resume_command()}"
    )
