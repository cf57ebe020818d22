"""The tree is lint-clean: ``ruff check .`` and ``ruff format --check .`` (pyproject's [tool.ruff]:
line length 100; rules E, F, W, I, B, UP) both exit 0 from the repository root. Their output is
printed when they do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"]
)
def test_ruff_is_clean(args: list[str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, (
        f"ruff {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    )
