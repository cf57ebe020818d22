"""Shared fixtures: an isolated cache, offline Hugging Face libraries, config composition."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_SESSION_CACHE: Path | None = None


def pytest_configure(config):
    """Isolate caches for the whole session (subprocess runs inherit the environment)."""
    global _SESSION_CACHE
    import tempfile

    if "UNIT_HARNESS_TEST_CACHE" in os.environ:  # reuse across pytest runs when set
        _SESSION_CACHE = Path(os.environ["UNIT_HARNESS_TEST_CACHE"])
    else:
        _SESSION_CACHE = Path(tempfile.mkdtemp(prefix="unit-harness-tests-"))
    os.environ["UNIT_HARNESS_CACHE"] = str(_SESSION_CACHE)
    os.environ["HF_HOME"] = str(_SESSION_CACHE / "hf")
    os.environ["HF_DATASETS_CACHE"] = str(_SESSION_CACHE / "hf" / "datasets")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def cache_dir() -> Path:
    assert _SESSION_CACHE is not None
    return _SESSION_CACHE


@pytest.fixture
def compose_cfg():
    """Compose the primary config with overrides, as ``python -m harness`` would (with the
    hydra node, which carries the overrides: ``run(cfg)`` reads what the user wrote there)."""
    from hydra import compose, initialize_config_dir

    from harness.config import conf_dir

    def _compose(*overrides: str):
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            return compose(
                config_name="config", overrides=list(overrides), return_hydra_config=True
            )

    return _compose


@pytest.fixture
def cli(monkeypatch, capsys):
    """Run ``python -m harness ARGS`` in this process: returns (exit code, stdout, stderr)."""
    import sys

    from harness.__main__ import main

    def _cli(*args: str):
        monkeypatch.setattr(sys, "argv", ["harness", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        out = capsys.readouterr()
        return code, out.out, out.err

    return _cli
