"""Fixed cost of ``python -m harness``: nothing heavy imported before it is needed, a prompt exit
once the results are written (all output flushed), and in-process callers unaffected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers")


def _cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None):
    """``python -m harness ARGS`` in a fresh process; (completed process, loaded heavy modules)."""
    report = tmp_path / f"modules-{len(list(tmp_path.glob('modules-*')))}.json"
    full_env = dict(os.environ, HARNESS_REPORT_MODULES=str(report), **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-m", "harness", "device=cpu", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=tmp_path,
        timeout=600,
    )
    loaded = json.loads(report.read_text())["loaded"] if report.is_file() else None
    return proc, loaded


def _oracle(tmp_path: Path, out: Path):
    return _cli(tmp_path, "model=oracle", "task=pope", "data=demo", f"output_dir={out}")


def test_an_oracle_run_imports_neither_torch_nor_transformers(tmp_path):
    """Needs harness.engine to import torch only when used (helper A's part of issue 15)."""
    out = tmp_path / "oracle"
    proc, loaded = _oracle(tmp_path, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert loaded is not None and (out / "scores.json").is_file()
    assert not set(HEAVY) & set(loaded), f"an oracle run loaded {loaded}"


def test_a_replay_run_imports_neither_torch_nor_transformers(tmp_path):
    first = tmp_path / "first"
    proc, _ = _oracle(tmp_path, first)
    assert proc.returncode == 0, proc.stderr[-2000:]
    preds = first / "predictions" / "pope.jsonl"
    out = tmp_path / "replay"
    proc, loaded = _cli(
        tmp_path,
        "model=replay",
        f"model.predictions={preds}",
        "task=pope",
        "data=demo",
        f"output_dir={out}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((out / "scores.json").read_text())["pope"]["value"] == 100.0
    assert loaded is not None and not set(HEAVY) & set(loaded), f"a replay run loaded {loaded}"


def test_the_prompt_exit_loses_no_output_and_keeps_the_exit_status(tmp_path):
    """os._exit skips the interpreter's flushing: the piped stdout (block-buffered), the final
    log line and the results must all be there; a config error still exits 2."""
    out = tmp_path / "run"
    proc, _ = _oracle(tmp_path, out)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"results: {out}\n" in proc.stdout  # the table's last line, flushed
    last = proc.stdout.strip().splitlines()[-1]  # the log handler's last line, flushed
    assert "samples/s end to end" in last and "generated/s in the engine" in last
    meta = json.loads((out / "meta.json").read_text())
    assert meta["timing"]["origin"] in ("/proc/self/stat", "harness import")
    bad, _ = _cli(tmp_path, "model=oracle", "task=pope", "data=demo", "batch_size=-3")
    assert bad.returncode == 2 and "batch_size" in bad.stderr


def test_slow_exit_gives_the_same_results(tmp_path):
    """HARNESS_SLOW_EXIT=1 (the interpreter's own teardown) writes the same scores."""
    fast, slow = tmp_path / "fast", tmp_path / "slow"
    p1, _ = _oracle(tmp_path, fast)
    p2, _ = _cli(
        tmp_path,
        "model=oracle",
        "task=pope",
        "data=demo",
        f"output_dir={slow}",
        env={"HARNESS_SLOW_EXIT": "1"},
    )
    assert p1.returncode == p2.returncode == 0, (p1.stderr[-1000:], p2.stderr[-1000:])
    assert json.loads((fast / "scores.json").read_text()) == json.loads(
        (slow / "scores.json").read_text()
    )


def test_main_called_in_process_returns_instead_of_ending_the_process(cli, tmp_path):
    """A caller of main() (tests, a notebook) gets SystemExit or a return, never os._exit: this
    test would not report at all otherwise."""
    code, out, _ = cli("model=oracle", "task=pope", "data=demo", f"output_dir={tmp_path / 'o'}")
    assert code == 0 and "results:" in out
    code, _, err = cli("model=oracle", "task=pope", "data=demo", "batch_size=-3")
    assert code == 2 and "batch_size" in err


def test_exit_waits_for_children(monkeypatch):
    """The prompt exit is refused while a child process or a non-daemon thread runs."""
    import threading

    from harness import __main__ as entry

    assert entry.can_exit_now() is None
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert entry.can_exit_now() == "threads are running"
    finally:
        stop.set()
        t.join()
    monkeypatch.setattr("multiprocessing.active_children", lambda: [object()])
    assert entry.can_exit_now() == "child processes are running"


@pytest.mark.parametrize("module", ["harness.device", "harness.results", "harness.runner"])
def test_runner_modules_import_without_torch(module):
    """The runner's own modules load no torch (harness.runner needs helper A's lazy engine)."""
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert proc.stdout.strip() == "[]", proc.stdout
