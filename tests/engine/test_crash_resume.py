"""Real runs of the entry point: Ctrl-C stops after a batch and says how to resume; a run killed
with SIGKILL (and a half-written last line) resumes to exactly the uninterrupted result."""

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
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def _start(out, delay="0.25"):
    return subprocess.Popen(
        command(out),
        env=env(FAKE_DELAY=delay),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ctrl_c_then_sigkill_then_rerun_gives_the_uninterrupted_result(
    compose_cfg, monkeypatch, tmp_path
):
    ref = tmp_path / "ref"
    run_in_process(compose_cfg, monkeypatch, ref)
    out = tmp_path / "run"
    journal = out / "predictions" / "docvqa.jsonl"

    proc = _start(out)  # 1. Ctrl-C after two batches: stops after the batch in flight
    try:
        _wait_for_lines(journal, 8, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    first = lines(journal)
    assert 8 <= len(first) < 32 and len(first) % 4 == 0 and not (out / "scores.json").exists()
    assert "stopping after the current batch" in stderr
    assert f"interrupted during docvqa: {len(first)} of 32 samples are saved in {journal}" in stderr
    assert (
        "resume with the same command" in stderr
        and "python -m harness task=docvqa model=oracle" in stderr
    )

    proc = _start(
        out, delay="0.4"
    )  # 2. the same command resumes; killed outright after two more batches
    try:
        _wait_for_lines(journal, len(first) + 8, proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == -signal.SIGKILL
    saved = lines(journal)
    assert saved[: len(first)] == first and len(first) + 8 <= len(saved) < 32
    assert not (out / "scores.json").exists()
    with journal.open("a") as f:  # what a crash in the middle of a write leaves
        f.write('{"id": "50033", "prompt": "What is')

    rerun = subprocess.run(
        command(out), env=env(), capture_output=True, text=True, timeout=120, check=False
    )  # 3. completes
    check(rerun)
    logged = rerun.stdout + rerun.stderr
    assert "partial last line (interrupted write) dropped" in logged
    assert f"{len(saved)} finished earlier" in logged
    assert journal.read_bytes() == (ref / "predictions" / "docvqa.jsonl").read_bytes()
    ids = [r["id"] for r in lines(journal)]
    assert len(ids) == len(set(ids)) == 32
    assert scores(out) == scores(ref)
    assert json.loads((out / "meta.json").read_text())["tasks"]["docvqa"]["generated"] == 32 - len(
        saved
    )
