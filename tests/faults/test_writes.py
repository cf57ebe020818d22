"""Fault corpus, writes: the output folder is checked before work; a write fault mid-run stops
with one line, exit 1, everything finished kept; a small /dev/shm falls back in-process; temporary
files never collide. Tests run as root, so read-only folders use ``chattr +i`` (or chmod when not
root), file-size faults RLIMIT_FSIZE, full disks and small /dev/shm a private tmpfs mount."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import threading
from pathlib import Path

import pytest

from harness.engine.files import atomic_write_text, check_output_dir
from harness.engine.scoring import Scorer
from harness.engine.shm import fallback_stream, workers_for_shm
from harness.errors import HarnessError

from .helpers import can_unshare_mount, harness_cmd, read_lines, run_cli, run_main, scores

ARGS = ("task=docvqa", "model=oracle", "data=demo", "device=cpu", "batch_size=4", "num_workers=0")


def _reference(capsys, tmp_path) -> Path:
    out = tmp_path / "ref"
    assert run_main(capsys, *ARGS, f"output_dir={out}").code == 0
    return out


def test_output_dir_below_a_regular_file(capsys, tmp_path):
    (tmp_path / "f").write_text("keep me")
    res = run_main(capsys, *ARGS, f"output_dir={tmp_path / 'f' / 'run'}")
    assert res.code == 1 and res.error == (
        f"error: output_dir {tmp_path / 'f' / 'run'} is below {tmp_path / 'f'}, "
        "which is a regular file, not a folder; choose another output_dir"
    )
    assert (tmp_path / "f").read_text() == "keep me"


def test_output_dir_that_is_a_regular_file(capsys, tmp_path):
    (tmp_path / "f").write_text("keep me")
    res = run_main(capsys, *ARGS, f"output_dir={tmp_path / 'f'}")
    assert res.code == 1 and "is a regular file, not a folder" in res.error
    assert (tmp_path / "f").read_text() == "keep me"


def _read_only(folder: Path):
    """Make ``folder`` unwritable for this process; returns the undo, or None when impossible."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    if (
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False).returncode
        != 0
    ):
        return None
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=False)


def test_read_only_output_folder_keeps_earlier_results(capsys, tmp_path):
    out = _reference(capsys, tmp_path)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    undo = _read_only(out)
    if undo is None:
        pytest.skip("neither chmod (not root) nor chattr +i can make a folder read-only here")
    try:
        res = run_main(capsys, *ARGS, f"output_dir={out}")
    finally:
        undo()
    assert res.code == 1 and res.error.startswith(f"error: output_dir {out} is not writable: ")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def _fsize(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


@pytest.mark.parametrize("fake", [False, True], ids=["inline-scoring", "background-scoring"])
def test_file_size_limit_stops_with_one_line_and_resumes_to_the_same_result(
    capsys, monkeypatch, tmp_path, fake
):
    out = tmp_path / "run"
    args = (*ARGS[:-1], "num_workers=1" if fake else "num_workers=0", f"output_dir={out}")
    res = run_cli(*args, fake=fake, preexec=_fsize(3000))
    journal = out / "predictions" / "docvqa.jsonl"
    assert res.code == 1 and res.error == (
        f"error: cannot write {journal}: File too large; raise the file-size limit (ulimit -f) "
        f"and re-run the "
        f"same command; finished samples are kept in {journal}"
    )
    kept = [json.loads(x) for x in journal.read_bytes().split(b"\n")[:-1]]  # complete lines only
    assert 4 <= len(kept) < 32 and not (out / "scores.json").exists()
    if fake:  # the same model as run_fake.py, in this process
        import harness.runner
        from tests.engine.fakes import FakeMLLM

        monkeypatch.setattr(harness.runner, "build_model", lambda cfg, enc, device: FakeMLLM())
    again = run_main(capsys, *args)
    assert again.code == 0, again.err[-2000:]
    done = read_lines(journal)
    assert len(done) == 32 and all(k in done for k in kept)  # nothing finished earlier was lost
    if not fake:
        assert done == read_lines(_reference(capsys, tmp_path) / "predictions" / "docvqa.jsonl")


needs_mount = pytest.mark.skipif(
    not can_unshare_mount(), reason="needs a private mount namespace (unshare -m)"
)


@needs_mount
def test_a_nearly_full_disk_is_refused_before_any_work(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    script = f'mount -t tmpfs -o size=8m tmpfs {out} && exec "$@"'
    res = run_cli(*ARGS, f"output_dir={out}", prefix=("unshare", "-m", "sh", "-c", script, "sh"))
    assert res.code == 1 and res.error == (
        f"error: output_dir {out}: only 8.0 MiB free, at least 16 MiB needed; "
        "free some space or choose another output_dir"
    )


def test_write_faults_name_the_file_and_the_fix():
    from harness.engine.files import write_error

    full = write_error(
        OSError(errno.ENOSPC, "No space left on device"), "/r/p.jsonl", "finished samples are kept"
    )
    assert str(full) == (
        "cannot write /r/p.jsonl: No space left on device; free some space and re-run the same "
        "command; finished samples are kept"
    )
    assert "choose a writable output_dir" in str(
        write_error(OSError(errno.EROFS, "Read-only file system"), "x")
    )


@needs_mount
def test_small_dev_shm_falls_back_to_in_process_loading_with_one_warning(capsys, tmp_path):
    out = tmp_path / "run"
    script = 'mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "$@"'
    args = (*ARGS[:-1], "num_workers=2", f"output_dir={out}")
    res = run_cli(*args, fake=True, prefix=("unshare", "-m", "sh", "-c", script, "sh"))
    assert res.code == 0, res.err[-2000:]
    warned = [
        x
        for x in (res.out + res.err).splitlines()
        if "shared memory (/dev/shm) has 64 MiB free" in x
    ]
    assert (
        len(warned) == 1 and "loading in-process instead" in warned[0] and "--shm-size" in warned[0]
    )
    meta = json.loads((out / "meta.json").read_text())["tasks"]["docvqa"]
    assert meta["timings"]["workers"] == 0 and scores(out)["docvqa"]["total"] == 32


def test_shm_size_check_and_mid_stream_fallback(caplog):
    assert workers_for_shm(2, 2, free=64 << 20) == 0 and workers_for_shm(2, 2, free=8 << 30) == 2
    calls = []

    def make(start, workers):
        calls.append((start, workers))

        def gen():
            for k in range(start, 5):
                if workers and k == 2:
                    raise RuntimeError("DataLoader worker (pid 99) is killed by signal: Bus error.")
                yield k

        return gen()

    assert list(fallback_stream(make, 2)) == [0, 1, 2, 3, 4] and calls == [(0, 2), (2, 0)]
    assert "failed on shared memory" in caplog.text

    def broken(start, workers):
        raise_ = ValueError("a real bug")
        yield from ()
        raise raise_

    with pytest.raises(ValueError):
        list(fallback_stream(broken, 2))


def test_a_write_fault_while_saving_background_scores_is_not_lost():
    from tests.engine.fakes import ToyTask

    def full(records):
        raise OSError(errno.ENOSPC, "No space left on device")

    scorer = Scorer(ToyTask(n=2), True, full)
    scorer.submit([(0, "q0", "Q", "a0")])
    with pytest.raises(OSError, match="No space left"):
        scorer.close()


def test_atomic_writes_from_many_threads_never_collide(tmp_path):
    target = tmp_path / "scores.json"
    errors = []

    def hammer(k):
        try:
            for i in range(40):
                atomic_write_text(target, json.dumps({"writer": k, "i": i}))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and json.loads(target.read_text())["i"] == 39
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.json"]  # no temporary left


def test_check_output_dir_creates_and_probes(tmp_path):
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list((tmp_path / "a" / "b").iterdir()) == []
    with pytest.raises(HarnessError, match="only .* MiB free"):
        check_output_dir(tmp_path, min_free_mb=1e15)


def test_harness_cmd_is_the_module_entry_point():
    assert harness_cmd("x=1")[1:] == ["-m", "harness", "x=1"]
