"""Relaxed accuracy, the ChartQA metric (Methani et al. 2020; ChartQA, Masry et al. 2022)."""

from __future__ import annotations

from harness.metrics.numbers import parse_float


def relaxed_correctness(prediction: str, target: str, max_relative_change: float = 0.05) -> float:
    """1.0 when the prediction is within 5 % of a numeric, non-zero target, else when it equals the
    target ignoring case; 0.0 otherwise.

    Numbers are read with :func:`~harness.metrics.numbers.parse_float` (``45%`` is 0.45). A zero
    target (or a non-numeric side) falls back to the case-insensitive string comparison, so
    ``0.0`` against ``0`` is wrong while ``0`` is right.

    >>> relaxed_correctness("104", "100"), relaxed_correctness("106", "100")
    (1.0, 0.0)
    >>> relaxed_correctness("45%", "0.45"), relaxed_correctness("45", "45%")
    (1.0, 0.0)
    >>> (relaxed_correctness("0.0", "0"), relaxed_correctness("0", "0"),
    ...  relaxed_correctness("YES", "Yes"))
    (0.0, 1.0, 1.0)
    """
    pred_f = parse_float(prediction)
    target_f = parse_float(target)
    if pred_f is not None and target_f:
        return float(abs(pred_f - target_f) / abs(target_f) <= max_relative_change)
    return float(prediction.lower() == target.lower())
