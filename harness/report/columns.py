"""Column metadata of the paper's table: label, units, maximum and printed precision per benchmark.

A task's own class (``tasks.get_task_class``) is the authority for ``label``, ``metric`` and
``max_value``; the static table below is the fallback for tasks whose adapter is not
installed, and the only source of units and decimals (presentation, not task logic).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.names import PAPER_TASKS

if TYPE_CHECKING:
    from harness.tasks.base import Task


@dataclass(frozen=True)
class Column:
    task: str
    label: str
    metric: str
    max_value: float
    units: str  # short unit text for captions and axis labels
    decimals: int = 2

    def fmt(self, value: float | None, signed: bool = False) -> str:
        """The value as the table prints it; ``None``/NaN is the missing mark ``—``.

        >>> (STATIC["ocrbench"].fmt(480.0), STATIC["gqa"].fmt(63.891),
        ...  STATIC["gqa"].fmt(-1.5, signed=True))
        ('480', '63.89', '-1.50')
        >>> STATIC["mme"].fmt(None)
        '—'
        """
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return MISSING
        text = f"{value:+.{self.decimals}f}" if signed else f"{value:.{self.decimals}f}"
        if text.startswith("-") and float(text) == 0:  # no "-0.00"
            text = ("+" if signed else "") + text[1:]
        return text


MISSING = "—"

STATIC: dict[str, Column] = {
    c.task: c
    for c in (
        Column("gqa", "GQA", "exact_match", 100.0, "EM %"),
        Column("okvqa", "OKVQA", "vqa_accuracy", 100.0, "VQA acc %"),
        Column("chartqa", "ChartQA", "relaxed_accuracy", 100.0, "relaxed acc %"),
        Column("docvqa", "DocVQA", "anls", 100.0, "ANLS %"),
        Column("infovqa", "InfoVQA", "anls", 100.0, "ANLS %"),
        Column("ocrbench", "OCRBench", "score", 1000.0, "points /1000", decimals=0),
        Column("pope", "POPE", "f1", 100.0, "F1 %"),
        Column("mme", "MME", "perception", 2000.0, "perception /2000"),
        Column("seed", "SEED-Image", "accuracy", 100.0, "acc %"),
        Column("mathvista", "MathVista", "accuracy", 100.0, "acc %"),
    )
}
"""Fallback metadata in the paper's order and units (MME: the perception sum)."""


def task_class(name: str) -> type[Task] | None:
    """The task's class, or ``None`` when its adapter module is not installed or the name is
    unknown.

    Tests replace this function to register fake tasks.
    """
    import harness.tasks as tasks

    try:
        return tasks.get_task_class(name)
    except HarnessError:
        return None
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("harness.tasks."):
            return None
        raise


def column(task: str, entry: dict[str, Any] | None = None) -> Column:
    """Metadata of one column: the task class first, then a ``scores.json`` entry, then STATIC.

    >>> column("mme", {"label": "MME", "metric": "perception", "max_value": 2000}).units
    'perception /2000'
    >>> column("my_task", {"label": "Mine", "metric": "acc", "max_value": 1.0}).max_value
    1.0
    """
    base = STATIC.get(task) or Column(task, task, "value", 100.0, "")
    entry = entry or {}
    cls = task_class(task)
    label = getattr(cls, "label", None) or entry.get("label") or base.label
    metric = getattr(cls, "metric", None) or entry.get("metric") or base.metric
    max_value = float(getattr(cls, "max_value", None) or entry.get("max_value") or base.max_value)
    units = base.units if task in STATIC else (f"/{max_value:g}" if max_value != 100 else "%")
    return replace(base, label=label, metric=metric, max_value=max_value, units=units)


def ordered(tasks_seen: Iterable[str]) -> list[str]:
    """Paper tasks first in the paper's order, then any other task in the order first seen.

    >>> ordered(["mme", "custom", "gqa"])
    ['gqa', 'mme', 'custom']
    """
    seen = list(dict.fromkeys(tasks_seen))
    return [t for t in PAPER_TASKS if t in seen] + [t for t in seen if t not in PAPER_TASKS]
