"""Demo datasets: built once per task into the cache and loaded through the tasks' real loaders."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from harness.demo.hub import build_once
from harness.errors import HarnessError

DEMO_SEED = 0
DEMO_VERSION = "1"  # bump to rebuild every cached demo set


def demo_folder(task_name: str, root: Path) -> Path:
    return Path(root) / f"v{DEMO_VERSION}" / task_name


def ensure_demo_data(task_name: str, root: Path) -> Path:
    """The folder of ``task_name``'s demo set under ``root``, building it on first use."""
    try:
        module = importlib.import_module(f"harness.demo.sets.{task_name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"harness.demo.sets.{task_name}":
            raise
        raise HarnessError(
            f"task {task_name} has no demo set; give data=hub (its task.dataset.path) or data=local"
        ) from None
    return build_once(demo_folder(task_name, root), lambda tmp: module.build(tmp, DEMO_SEED))


def demo_dataset(task_name: str, root: Path, dataset: dict[str, Any]) -> dict[str, Any]:
    """A task's dataset config pointed at its demo set (hub layout, built on first use)."""
    return dict(dataset, path=str(ensure_demo_data(task_name, root)), format="hub", demo=True)
