"""Helper processes (the scoring process, data-loader workers) die with the main process.

A SIGKILLed parent cannot clean up its children; without this they linger with parent 1,
holding memory. On Linux the kernel sends the child SIGKILL when the parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere (and as a second line on Linux) a daemon thread
polls the parent pid and exits the child within half a second of a change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def _prctl_death_signal(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        threading.Event().wait(POLL_SECONDS)


def die_with_parent(parent: int | None = None) -> None:
    """Call first thing in a child process: it ends when ``parent`` (default: its current
    parent) does. ``parent`` is the pid the child was started from, so a parent that died
    before this call is noticed too."""
    parent = os.getppid() if parent is None else parent
    _prctl_death_signal(signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="parent-watchdog", daemon=True).start()
