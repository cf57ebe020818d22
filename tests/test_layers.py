"""Layers that point one way: the import-linter contracts of pyproject.toml hold, and they cannot
go stale (every module of harness/ is either forbidden to a layer or one it may read)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parents[1]
SHARED = {
    "harness.errors",
    "harness.types",
    "harness.contracts",
    "harness.names",
    "harness.jsonl",
    "harness.fingerprint",
}
"""The leaf modules every layer may read."""
MAY_READ = {
    "tasks read harness.metrics and the shared modules only": SHARED
    | {"harness.metrics", "harness.tasks"},
    "metrics are pure: the shared modules only": SHARED | {"harness.metrics"},
    "the engine reads the contracts and the shared modules only": SHARED | {"harness.engine"},
}


def contracts() -> dict[str, dict]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in data["tool"]["importlinter"]["contracts"]}


def top_modules() -> set[str]:
    """``harness.<name>`` for every module and package directly under harness/."""
    out = set()
    for p in (ROOT / "harness").iterdir():
        if p.suffix == ".py" and p.stem != "__init__":
            out.add(f"harness.{p.stem}")
        elif p.is_dir() and (p / "__init__.py").is_file():
            out.add(f"harness.{p.name}")
    return out


def test_import_contracts_hold():
    exe = shutil.which("lint-imports")
    if exe is None:  # installed by the test extra; never a silent pass
        pytest.fail("lint-imports not found: pip install -e '.[test]' (import-linter)")
    res = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    assert " 0 broken" in res.stdout


@pytest.mark.parametrize("name", sorted(MAY_READ))
def test_allow_lists_cover_every_module(name):
    """A new module under harness/ must be placed: forbidden to the layer or named as readable."""
    contract = contracts()[name]
    forbidden = {m for m in contract["forbidden_modules"] if m.startswith("harness.")}
    missing = top_modules() - forbidden - MAY_READ[name] - {"harness.paper", "harness.conf"}
    assert not missing, f"{name}: place {sorted(missing)} in forbidden_modules or in MAY_READ"
    assert not forbidden & MAY_READ[name]


def test_every_contract_is_checked_and_cycles_are_among_them():
    kinds = {c["type"] for c in contracts().values()}
    assert "acyclic_siblings" in kinds and "forbidden" in kinds
    assert set(MAY_READ) <= set(contracts())


def test_a_broken_layer_is_reported(tmp_path):
    """The linter bites: a task module importing the runner breaks the tasks contract."""
    pkg = tmp_path / "tasks"
    shutil.copytree(ROOT / "tasks", pkg)
    (pkg / "zz_bad.py").write_text("import harness.runner\n", encoding="utf-8")
    shutil.copytree(  # symlinks kept: harness/tasks links to the copied tasks/ beside it
        ROOT / "harness",
        tmp_path / "harness",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", "conf"),
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    res = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command;lint_imports_command()",
            "--no-cache",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert res.returncode != 0
    assert "harness.tasks.zz_bad -> harness.runner" in res.stdout


def test_each_fact_has_one_home():
    """The task list is harness.names.PAPER_TASKS (task=all reads it, the paper's CSV agrees, the
    report's static columns cover it); results/paper points at the packaged paper table."""
    from omegaconf import OmegaConf

    import harness.config  # noqa: F401  (registers the paper_tasks resolver)
    from harness.names import PAPER_TASKS
    from harness.report.columns import STATIC
    from harness.tasks import task_names

    assert (ROOT / "results" / "paper").resolve() == (ROOT / "harness" / "paper").resolve()
    all_yaml = OmegaConf.load(ROOT / "conf" / "task" / "all.yaml")
    assert "${paper_tasks:}" in (ROOT / "conf" / "task" / "all.yaml").read_text(encoding="utf-8")
    assert tuple(all_yaml.names) == PAPER_TASKS == tuple(task_names()) == tuple(STATIC)
    header = (ROOT / "harness" / "paper" / "paper_table.csv").read_text().splitlines()[0]
    assert tuple(header.split(",")[1:]) == PAPER_TASKS
