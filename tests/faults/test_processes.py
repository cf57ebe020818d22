"""Fault corpus, processes: SIGKILL leaves no helper process and resumes to the same result,
SIGTERM exits 143 with the resume hint, a second run on a busy folder refuses with one line."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

import harness.runner
from harness.engine import EngineSettings, Interrupted, run_task
from harness.engine.files import open_output
from harness.engine.interrupt import Terminated, exit_on_sigterm, exit_status
from tests.engine.fakes import FakeMLLM, ToyTask

from .helpers import alive, children, env, harness_cmd, read_lines, run_main, scores

ARGS = ("task=docvqa", "model=oracle", "data=demo", "device=cpu", "batch_size=4", "num_workers=1")


@pytest.fixture
def fake(monkeypatch):
    """The in-process runs use run_fake.py's model (FakeMLLM: workers, background scoring)."""
    monkeypatch.setattr(harness.runner, "build_model", lambda cfg, enc, device: FakeMLLM())


def _start(out, delay="0.3"):
    return subprocess.Popen(
        harness_cmd(*ARGS, f"output_dir={out}", fake=True),
        env=env(FAKE_DELAY=delay),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_lines(path, n, proc, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.is_file() and path.read_text().count("\n") >= n:
            return
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


def test_sigkill_leaves_no_helper_process_and_resumes_identically(capsys, fake, tmp_path):
    out, journal = tmp_path / "run", tmp_path / "run" / "predictions" / "docvqa.jsonl"
    proc = _start(out)
    try:
        _wait_lines(journal, 8, proc)
        helpers = children(proc.pid)  # the scoring process and the data-loader worker
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert len(helpers) >= 2
    end = time.monotonic() + 2.0
    while any(alive(p) for p in helpers) and time.monotonic() < end:
        time.sleep(0.05)
    assert not [p for p in helpers if alive(p)], "helper processes outlived the killed run"
    kept = read_lines(journal)
    assert run_main(capsys, *ARGS, f"output_dir={out}").code == 0  # the lock died with the process
    ref = tmp_path / "ref"
    assert run_main(capsys, *ARGS, f"output_dir={ref}").code == 0
    assert read_lines(journal) == read_lines(ref / "predictions" / "docvqa.jsonl")
    assert all(k in read_lines(journal) for k in kept) and scores(out) == scores(ref)


def test_sigterm_exits_143_with_the_resume_hint_and_keeps_the_batches(capsys, fake, tmp_path):
    out, journal = tmp_path / "run", tmp_path / "run" / "predictions" / "docvqa.jsonl"
    proc = _start(out, delay="0.5")
    try:
        _wait_lines(journal, 4, proc)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 143, err[-2000:]
    kept = read_lines(journal)
    assert f"interrupted during docvqa: {len(kept)} of 32 samples are saved in {journal}" in err
    assert "resume with the same command" in err and "Traceback" not in err
    assert run_main(capsys, *ARGS, f"output_dir={out}").code == 0
    assert all(k in read_lines(journal) for k in kept) and len(read_lines(journal)) == 32


def test_a_second_run_on_a_busy_folder_refuses_with_one_line(capsys, tmp_path):
    out = tmp_path / "run"
    assert run_main(capsys, *ARGS, f"output_dir={out}").code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    lock = open_output(out)  # another run holds the folder
    try:
        res = run_main(capsys, *ARGS, f"output_dir={out}")
    finally:
        lock.release()
    assert res.code == 1 and res.error.startswith(
        f"error: output_dir {out} is in use by another run (pid "
    )
    assert res.error.endswith("wait for it to finish or choose another output_dir")
    assert {
        p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"
    } == before
    assert run_main(capsys, *ARGS, f"output_dir={out}").code == 0  # free again once released


class _Term(FakeMLLM):
    def generate_prepared(self, batch):
        out = super().generate_prepared(batch)
        if len(self.calls) == 1:
            signal.raise_signal(signal.SIGTERM)
        return out


def test_sigterm_inside_the_engine_is_a_graceful_stop_that_exits_143(tmp_path):
    with pytest.raises(Interrupted, match="interrupted during toy") as info:
        run_task(ToyTask(), _Term(), tmp_path, EngineSettings(batch_size=4, progress=False))
    assert exit_status(info.value) == 143
    assert len(read_lines(tmp_path / "predictions" / "toy.jsonl")) >= 4


def test_sigterm_outside_the_engine_exits_143():
    old = signal.getsignal(signal.SIGTERM)
    try:
        exit_on_sigterm()
        with pytest.raises(Terminated) as info:
            signal.raise_signal(signal.SIGTERM)
            time.sleep(1)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert exit_status(info.value) == 143 and exit_status(KeyboardInterrupt()) == 130
