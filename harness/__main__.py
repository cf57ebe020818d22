"""Entry point: ``python -m harness [group=option ...] [key=value ...]`` (Hydra).

Once the run has returned (or failed) and its files are written, the process ends at once
(``os._exit``) instead of tearing the interpreter down module by module, which takes longer
than a small run's evaluation; see :func:`exit_now` for what is made sure first.
"""

from __future__ import annotations

import os
import sys
import time

_STARTED = time.time()  # the process start where /proc cannot say (harness.results)

import hydra  # noqa: E402  (after the fallback clock above)
from omegaconf import DictConfig  # noqa: E402

from harness.config import conf_dir  # noqa: E402
from harness.errors import ConfigError, HarnessError  # noqa: E402


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from harness.runner import run

    try:
        run(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:  # a write fault outside the checked paths: one line, not a traceback
        from harness.engine.files import fault_message

        if fault_message(exc) is None:
            raise
        print(f"error: {fault_message(exc)}", file=sys.stderr)
        sys.exit(1)


def _status(code: object) -> int:
    """``SystemExit.code`` as an exit status (None: 0; a message: printed, 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def can_exit_now() -> str | None:
    """Why the process must end the slow way (None: it may end at once): a child process
    (DataLoader worker, scorer) or a non-daemon thread still running, or a distributed group
    still up."""
    import multiprocessing
    import threading

    if multiprocessing.active_children():
        return "child processes are running"
    main = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main):
        return "threads are running"
    dist = sys.modules.get("torch.distributed")
    if dist is not None and dist.is_available() and dist.is_initialized():
        return "the distributed group is up"
    return None


def exit_now(code: int) -> None:
    """End the process with ``code``, skipping interpreter teardown, once nothing is pending:
    stdout, stderr and every logging handler flushed and closed. Where :func:`can_exit_now`
    says no, or ``HARNESS_SLOW_EXIT=1`` is set, exits normally."""
    import logging

    if os.environ.get("HARNESS_REPORT_MODULES"):  # tests: which heavy modules this run loaded
        _report_modules(os.environ["HARNESS_REPORT_MODULES"])
    if os.environ.get("HARNESS_SLOW_EXIT") == "1" or can_exit_now() is not None:
        sys.exit(code)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


HEAVY_MODULES = ("torch", "transformers", "datasets", "pandas", "matplotlib", "scipy", "timm")


def _report_modules(path: str) -> None:
    import json

    loaded = sorted(m for m in HEAVY_MODULES if m in sys.modules)
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"loaded": loaded}, f)


def is_entry_point() -> bool:
    """Whether this process was started to run the harness (``python -m harness`` or the
    ``harness`` script) rather than calling :func:`main` from other code (tests, a notebook)."""
    top = sys.modules.get("__main__")
    spec = getattr(top, "__spec__", None)
    if spec is not None and spec.name == "harness.__main__":
        return True
    return os.path.basename(str(getattr(top, "__file__", ""))) in ("harness", "harness.exe")


def main(fast_exit: bool | None = None) -> None:
    """The command line. ``fast_exit``: end the process with :func:`exit_now` once done
    (default: only when this process was started as the harness, never under a caller)."""
    from harness.config import check_argv, normalise_argv
    from harness.engine.files import ignore_file_size_signal
    from harness.results import process_start
    from harness.runner import set_origin

    if fast_exit is None:
        fast_exit = is_entry_point()
    start, source = process_start()
    origin = (start, source) if source != "harness import" else (_STARTED, source)
    # past `ulimit -f` a write fails with EFBIG (reported), no silent kill
    ignore_file_size_signal()

    try:
        sys.argv[1:] = normalise_argv(sys.argv[1:])
        check_argv(sys.argv[1:])
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        if not fast_exit:
            sys.exit(2)
        exit_now(2)
    code = 0
    set_origin(*origin)
    try:
        _hydra_main()
    except SystemExit as exc:
        if not fast_exit:
            raise
        code = _status(exc.code)
    finally:
        set_origin(None)  # a later run() in this process measures from its own call
    if fast_exit:
        exit_now(code)


if __name__ == "__main__":
    main()
