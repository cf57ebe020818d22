"""The package type-checks: ``python -m mypy`` with pyproject's [tool.mypy] (strict, harness/ and
tasks/) exits 0. The errors are printed when it does not.

mypy keeps an incremental cache (.mypy_cache/), so a re-run after a small change takes seconds;
a cold run checks every module once (one to two minutes on a small CPU)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # a minute with a warm cache, two cold: CI runs it (no -m filter)
def test_mypy_strict_is_clean() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert proc.returncode == 0, (
        f"mypy --strict found {len(errors)} error(s) (exit {proc.returncode}):\n"
        + proc.stdout
        + proc.stderr
    )
