"""ANLS, the DocVQA / InfographicVQA metric (Biten et al. 2019), as lmms-eval computes it."""
from __future__ import annotations

from collections.abc import Sequence

from harness.metrics.text import levenshtein, squash_spaces


def anls(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """Average-normalised Levenshtein similarity of one prediction against its ground truths.

    Both sides are normalised with ``' '.join(s.strip().lower().split())``; the distance is
    divided by the longer of the two *raw* (un-normalised) lengths, as the official and
    lmms-eval implementations do (they take ``len(s.upper())``, which differs from ``len(s)``
    only for the few characters whose upper case is longer, e.g. ``ß`` -> ``SS``; we do the
    same). The best ground truth counts; below ``threshold`` the score is 0.

    >>> anls("Hello World", ["hello world"])
    1.0
    >>> round(anls("helo", ["hello"]), 2)
    0.8
    >>> anls("abc", ["xyz"])
    0.0
    >>> round(anls("hello", ["  hello  "]), 2)   # raw length 9 in the denominator
    1.0
    >>> round(anls("helo", ["  hello  "]), 3)    # distance 1 over raw length 9
    0.889
    >>> round(anls("strase", ["straße"]), 3)     # distance 1 over len("STRASSE") = 7
    0.857
    """
    if not answers:
        raise ValueError("anls: no ground-truth answers")
    pred_norm = squash_spaces(prediction)
    best = 0.0
    for gt in answers:
        gt_norm = squash_spaces(gt)
        denom = max(len(gt.upper()), len(prediction.upper()))
        value = levenshtein(gt_norm, pred_norm) / denom if denom else 0.0
        best = max(best, 1.0 - value)
    return best if best >= threshold else 0.0
