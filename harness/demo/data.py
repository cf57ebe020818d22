"""Demo datasets: built once per task into the cache and loaded through the tasks' real loaders."""
from __future__ import annotations

import importlib
from pathlib import Path

from harness.demo.hub import build_once

DEMO_SEED = 0
DEMO_VERSION = "1"  # bump to rebuild every cached demo set


def demo_folder(task_name: str, root: Path) -> Path:
    return Path(root) / f"v{DEMO_VERSION}" / task_name


def ensure_demo_data(task_name: str, root: Path) -> Path:
    """The folder of ``task_name``'s demo set under ``root``, building it on first use."""
    module = importlib.import_module(f"harness.demo.sets.{task_name}")
    return build_once(demo_folder(task_name, root), lambda tmp: module.build(tmp, DEMO_SEED))


def demo_dataset(task_name: str, root: Path, dataset: dict) -> dict:
    """A task's dataset config pointed at its demo set (hub layout, built on first use)."""
    return dict(dataset, path=str(ensure_demo_data(task_name, root)), format="hub", demo=True)
