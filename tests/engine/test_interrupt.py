"""Graceful stop: the first signal only asks, the second stops at once; the resume command."""

from __future__ import annotations

import os
import signal

import pytest

from harness.engine.interrupt import (
    GracefulStop,
    Interrupted,
    resume_command,
    resume_hint,
)


def test_first_sigint_sets_a_flag_second_raises():
    with GracefulStop() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_resume_command_quotes_arguments_and_keeps_a_script():
    cmd = resume_command(["/x/tests/run.py", "output_dir=/a b", "task=gqa"], {})
    assert cmd.endswith("/x/tests/run.py 'output_dir=/a b' task=gqa")
    assert (
        resume_command(
            ["/usr/bin/harness", "limit=3"], {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
        )
        == "torchrun --nproc-per-node 2 -m harness limit=3"
    )


def test_hint_names_what_was_saved():
    hint = resume_hint(
        Interrupted("interrupted during gqa: 64 of 100 samples are saved in p.jsonl")
    )
    assert (
        hint.startswith("interrupted during gqa: 64 of 100")
        and "resume with the same command" in hint
    )
