"""Number parsing shared by answer metrics."""

from __future__ import annotations


def parse_float(text: str) -> float | None:
    """``float(text)``, a trailing ``%`` meaning a percentage (divided by 100); ``None`` when
    Python's ``float`` cannot parse it. Exactly ChartQA's reference parser: no thousands
    separators, currency signs or units are removed (``float`` itself accepts surrounding
    whitespace, underscores between digits and exponents).

    >>> parse_float("12.5"), parse_float("45%"), parse_float(" 7 ")
    (12.5, 0.45, 7.0)
    >>> parse_float("1,000") is None, parse_float("$5") is None, parse_float("%") is None
    (True, True, True)
    """
    try:
        if text.endswith("%"):
            return float(text.rstrip("%")) / 100.0
        return float(text)
    except ValueError:
        return None
