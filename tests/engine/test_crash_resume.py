"""A run killed with SIGKILL mid-task resumes to exactly the uninterrupted result."""
from __future__ import annotations

import json
import signal
import subprocess
import time

from .runs import check, command, env, lines, run_in_process, scores


def _wait_for_lines(path, n, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file() and len(path.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def test_sigkill_mid_task_then_rerun_gives_the_uninterrupted_result(compose_cfg, monkeypatch, tmp_path):
    ref = tmp_path / "ref"
    run_in_process(compose_cfg, monkeypatch, ref)
    out = tmp_path / "run"
    journal = out / "predictions" / "docvqa.jsonl"
    proc = subprocess.Popen(command(out), env=env(FAKE_DELAY="0.25"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_lines(journal, 8, proc)  # two batches of 4 flushed
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = lines(journal)
    assert 8 <= len(saved) < 32 and not (out / "scores.json").exists()
    assert saved[:8] != lines(ref / "predictions" / "docvqa.jsonl")[:8]  # completion order, not dataset order
    with journal.open("a") as f:  # what a crash in the middle of a write leaves
        f.write('{"id": "50033", "prompt": "What is')
    rerun = subprocess.run(command(out), env=env(), capture_output=True, text=True, timeout=120)
    check(rerun)
    logged = rerun.stdout + rerun.stderr
    assert "partial last line (interrupted write) dropped" in logged
    assert f"{len(saved)} finished earlier" in logged
    assert journal.read_bytes() == (ref / "predictions" / "docvqa.jsonl").read_bytes()
    ids = [r["id"] for r in lines(journal)]
    assert len(ids) == len(set(ids)) == 32
    assert scores(out) == scores(ref)
    meta = json.loads((out / "meta.json").read_text())["tasks"]["docvqa"]
    assert meta["generated"] == 32 - len(saved)
