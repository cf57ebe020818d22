"""POPE: yes/no classification metrics over (predicted label, true label) pairs.

Positive class = "yes". A prediction parsed as "other" (lmms-eval's exact parse) is wrong for
accuracy and is neither a positive nor a negative prediction: it is not a TP/FP (precision)
nor a FN (recall), as in lmms-eval. The yes-ratio is the share of *predictions* that are
"yes" over all predictions (lmms-eval computes it from the ground truth by mistake).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported lazily at run time
    from numpy.typing import ArrayLike, NDArray


@dataclass(frozen=True)
class Counts:
    tp: int = 0  # truth yes, predicted yes
    fp: int = 0  # truth no, predicted yes
    tn: int = 0  # truth no, predicted no
    fn: int = 0  # truth yes, predicted no
    other: int = 0  # predicted neither yes nor no

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn + self.other

    def as_list(self) -> list[int]:
        return [self.tp, self.fp, self.tn, self.fn, self.other]


def count(pairs: Iterable[tuple[str, str]]) -> Counts:
    """Confusion counts of ``(prediction, truth)`` label pairs.

    >>> count([("yes", "yes"), ("yes", "no"), ("no", "no"), ("no", "yes"), ("other", "yes")])
    Counts(tp=1, fp=1, tn=1, fn=1, other=1)
    """
    c = [0, 0, 0, 0, 0]
    for pred, truth in pairs:
        if pred == "yes":
            c[0 if truth == "yes" else 1] += 1
        elif pred == "no":
            c[3 if truth == "yes" else 2] += 1
        else:
            c[4] += 1
    return Counts(*c)


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def binary_metrics(c: Counts | Sequence[int]) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and yes-ratio (fractions in [0, 1]) from counts.

    Zero denominators give 0 (as lmms-eval). Worked example: TP=2, FP=1, TN=3, FN=1, other=1
    (n=8): accuracy 5/8, precision 2/3, recall 2/3, F1 2/3, yes-ratio 3/8.

    >>> m = binary_metrics(Counts(tp=2, fp=1, tn=3, fn=1, other=1))
    >>> [round(m[k], 4) for k in ("accuracy", "precision", "recall", "f1", "yes_ratio")]
    [0.625, 0.6667, 0.6667, 0.6667, 0.375]
    """
    tp, fp, tn, fn, other = c.as_list() if isinstance(c, Counts) else list(c)
    n = tp + fp + tn + fn + other
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {
        "accuracy": _ratio(tp + tn, n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": _ratio(tp + fp, n),
    }


def f1_from_counts(tp: ArrayLike, fp: ArrayLike, fn: ArrayLike) -> float | NDArray[Any]:
    """F1 as ``2TP / (2TP + FP + FN)`` (0 when TP = 0); equal to ``2PR / (P + R)``; works on
    numpy arrays (vectorised bootstrap).

    >>> f1_from_counts(2, 1, 1), f1_from_counts(0, 3, 0)
    (0.6666666666666666, 0.0)
    """
    import numpy as np

    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    out = np.divide(2 * tp, denom, out=np.zeros_like(denom), where=(denom > 0) & (tp > 0))
    return float(out) if out.ndim == 0 else out
