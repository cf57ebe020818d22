"""Task adapters, one module per benchmark, registered by name."""
from __future__ import annotations

import importlib

from harness.errors import HarnessError
from harness.names import PAPER_TASKS, did_you_mean

from tasks.base import Task

TASK_MODULES = {name: f"tasks.{name}" for name in PAPER_TASKS}


def task_names() -> list[str]:
    return list(TASK_MODULES)


def get_task_class(name: str) -> type[Task]:
    """The Task class registered as ``name``; an unknown name lists the valid ones."""
    if name not in TASK_MODULES:
        raise HarnessError(f"unknown task {name!r}{did_you_mean(name, TASK_MODULES)}; "
                           f"valid: {', '.join(TASK_MODULES)}, all")
    module = importlib.import_module(TASK_MODULES[name])
    return module.TASK


def implemented_tasks() -> list[str]:
    """Names of tasks whose adapter module exists (others show '—' in the table)."""
    out = []
    for name, mod in TASK_MODULES.items():
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:
                raise
            continue
        out.append(name)
    return out
