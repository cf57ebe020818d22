"""Accuracy breakdowns: the mean score of records grouped by one or several keys."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any


def mean_by(
    records: Sequence[Mapping[str, Any]],
    groups: Callable[[Mapping[str, Any]], Iterable[object]],
    scale: float = 100.0,
) -> dict[str, float]:
    """``{group: scale · mean(score)}``; ``groups(record)`` lists the groups a record counts
    in (several for MathVista's skills, none to leave it out). Groups keep first-seen order.

    >>> recs = [{"score": 1.0, "t": ["a", "b"]}, {"score": 0.0, "t": ["a"]}]
    >>> mean_by(recs, lambda r: r["t"])
    {'a': 50.0, 'b': 100.0}
    """
    sums: dict[str, list[float]] = {}
    for r in records:
        for g in groups(r):
            s = sums.setdefault(str(g), [0.0, 0])
            s[0] += float(r["score"])
            s[1] += 1
    return {g: scale * total / n for g, (total, n) in sums.items()}
