"""Running the real entry point for the fault corpus: in-process (``main()`` with an argv, fast)
or as a subprocess (signals, resource limits, mount namespaces); generated datasets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "engine" / "run_fake.py"


@dataclass
class Outcome:
    code: int
    err: str
    out: str = ""

    @property
    def error(self) -> str:
        """The one ``error:`` line (asserts there is exactly one and no traceback)."""
        lines = [x for x in self.err.splitlines() if x.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in self.err, self.err[-3000:]
        return lines[0]

    @property
    def warnings(self) -> list[str]:
        return [x for x in self.err.splitlines() if x.startswith("warning:")]


def run_main(capsys, *args: str) -> Outcome:
    """``python -m harness *args`` in this process; signal handlers are restored after."""
    from harness.__main__ import main

    sigs = [s for s in (signal.SIGTERM, getattr(signal, "SIGXFSZ", None)) if s is not None]
    saved = {s: signal.getsignal(s) for s in sigs}
    argv = sys.argv
    sys.argv = ["harness", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
        for s, h in saved.items():
            signal.signal(s, h)
    return Outcome(code, capsys.readouterr().err)


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", **extra)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def harness_cmd(*args: str, fake: bool = False) -> list[str]:
    """The command line: ``python -m harness``, or the FakeMLLM wrapper (``FAKE_DELAY``: seconds
    a batch)."""
    return [sys.executable, *([str(FAKE)] if fake else ["-m", "harness"]), *args]


def run_cli(
    *args: str, fake: bool = False, timeout: float = 120, preexec=None, prefix=(), **extra
) -> Outcome:
    proc = subprocess.run(
        [*prefix, *harness_cmd(*args, fake=fake)],
        env=env(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
        check=False,
        cwd=ROOT,
    )
    return Outcome(proc.returncode, proc.stderr, proc.stdout)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]


def scores(out: Path) -> dict:
    return json.loads((Path(out) / "scores.json").read_text())


def demo_folder(cache_dir: Path, task: str) -> Path:
    from harness.demo.data import ensure_demo_data

    return Path(ensure_demo_data(task, cache_dir / "demo" / "data"))


def variant(cache_dir: Path, dest: Path, task: str, change) -> Path:
    """A copy of the task's demo set (hub layout) under ``dest/<task>`` with every shard's table
    passed through ``change(pyarrow.Table) -> Table``; for ``data=local data.root=dest``."""
    import pyarrow.parquet as pq

    src = demo_folder(cache_dir, task)
    target = dest / task
    shutil.copytree(src, target, ignore=shutil.ignore_patterns(".complete"))
    for shard in target.rglob("*.parquet"):
        pq.write_table(change(pq.read_table(shard)), shard)
    return target


def alive(pid: int) -> bool:
    """A process that still runs (a zombie waiting for its reaper counts as gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(x) for x in out.split()]


def can_unshare_mount() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0
