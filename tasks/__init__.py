"""Task adapters, one module per benchmark, registered by name; a user's own adapter is loaded
from ``task.adapter`` (``module:Class`` or ``path/to/file.py:Class``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.names import PAPER_TASKS, did_you_mean
from harness.tasks.base import Task

TASK_MODULES = {name: f"harness.tasks.{name}" for name in PAPER_TASKS}


def task_names() -> list[str]:
    return list(TASK_MODULES)


def get_task_class(name: str, adapter: str | None = None) -> type[Task]:
    """The Task class of ``name``: the built-in one, or the one ``adapter`` names; an unknown
    name lists the valid ones."""
    if adapter:
        return load_adapter(str(adapter), name)
    if name not in TASK_MODULES:
        raise HarnessError(
            f"unknown task {name!r}{did_you_mean(name, TASK_MODULES)}; valid: "
            f"{', '.join(TASK_MODULES)}, all (or set task.adapter=module:Class)"
        )
    module = importlib.import_module(TASK_MODULES[name])
    cls: type[Task] = module.TASK
    return cls


def load_adapter(adapter: str, name: str | None = None) -> type[Task]:
    """The Task subclass ``adapter`` names: ``package.module:Class`` (importable: installed or
    on ``sys.path``) or ``path/to/file.py:Class``; without ``:Class`` the module's ``TASK``."""
    where, _, attr = adapter.partition(":")
    key = f"task.adapter={adapter}"
    try:
        if where.endswith(".py"):
            path = Path(where).expanduser().resolve()
            if not path.is_file():
                raise HarnessError(f"{key}: no such file {path}")
            mod_name = f"harness_user_task_{path.stem}"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise HarnessError(f"{key}: cannot load {path} as a Python module")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module  # pickling for data-loader workers finds it
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(where)
    except HarnessError:
        raise
    except Exception as exc:  # the user's module: any import error is reported in one line
        raise HarnessError(f"{key}: cannot import {where!r}: {type(exc).__name__}: {exc}") from None
    cls = getattr(module, attr or "TASK", None)  # the user's module: a named attribute
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise HarnessError(f"{key}: {where} has no Task subclass named {attr or 'TASK'!r}")
    if name is not None and name != "all" and getattr(cls, "name", name) != name:
        raise HarnessError(
            f"{key}: {cls.__name__}.name is {cls.name!r}, the task config's name "
            f"is {name!r}; make them the same"
        )
    return cls
