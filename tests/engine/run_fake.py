"""``python tests/engine/run_fake.py [harness overrides]``: the real entry point (Hydra, runner,
engine, store) with the model replaced by :class:`FakeMLLM` (``FAKE_DELAY`` seconds per batch).

With ``WRITES_LOG`` set, every file this process opens for writing is listed in
``$WRITES_LOG.rank<RANK>`` (an audit hook), so a test can check which rank wrote what.
"""

from __future__ import annotations

import os
import sys


def _audit_writes(log_path: str) -> None:
    opened: set[str] = set()

    def hook(event, args):
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
            if any(c in mode for c in "wax+"):
                opened.add(
                    os.fspath(args[0]) if not isinstance(args[0], bytes) else args[0].decode()
                )

    sys.addaudithook(hook)
    import atexit

    def write() -> None:
        with open(log_path, "w") as f:
            f.write("\n".join(sorted(opened)))

    atexit.register(write)
    fast_exit = os._exit  # the CLI ends with os._exit once results are written: no atexit

    def exit_after_writing(code: int) -> None:
        write()
        fast_exit(code)

    os._exit = exit_after_writing  # type: ignore[assignment]


def main() -> None:
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    if os.environ.get("WRITES_LOG"):
        _audit_writes(f"{os.environ['WRITES_LOG']}.rank{os.environ.get('RANK', '0')}")
    import runpy

    import harness.runner
    from tests.engine.fakes import FakeMLLM

    delay = float(os.environ.get("FAKE_DELAY", "0"))
    harness.runner.build_model = lambda cfg, enc, device: FakeMLLM(delay=delay)
    runpy.run_module("harness", run_name="__main__", alter_sys=True)  # exactly `python -m harness`


if __name__ == "__main__":
    main()
