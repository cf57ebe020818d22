"""Helpers for tests that run the real entry point in subprocesses (tests/engine/run_fake.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import harness.runner

from .fakes import FakeMLLM

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("run_fake.py")
ARGS = ("task=docvqa", "model=oracle", "data=demo", "device=cpu", "batch_size=4", "num_workers=1")


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", **extra)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, str(SCRIPT), *ARGS, f"output_dir={out}", *extra]


def run_in_process(compose_cfg, monkeypatch, out: Path) -> None:
    """The uninterrupted single-process reference run, with the same fake model."""
    monkeypatch.setattr(harness.runner, "build_model", lambda cfg, enc, device: FakeMLLM())
    harness.runner.run(compose_cfg(*ARGS, f"output_dir={out}"))


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def scores(out: Path) -> dict:
    return json.loads((out / "scores.json").read_text())


def check(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
