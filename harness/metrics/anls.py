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
    same). The best ground truth counts; below ``threshold`` the score is 0. The distance is
    rapidfuzz's (:func:`harness.metrics.text.levenshtein`).

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
    pred_norm, pred_len = squash_spaces(prediction), len(prediction.upper())
    best = 0.0
    for gt in answers:
        gt_norm = squash_spaces(gt)
        denom = max(len(gt.upper()), pred_len)
        value = levenshtein(gt_norm, pred_norm) / denom if denom else 0.0
        best = max(best, 1.0 - value)
    return best if best >= threshold else 0.0


def anls_accuracy(prediction: str, answers: Sequence[str], threshold: float = 0.5) -> float:
    """lmms-eval v0.1.0–v0.2.4's DocVQA/InfoVQA score (a defect, fixed in v0.3.0): each ground
    truth is scored alone by :func:`anls` and the sample counts 1.0 when any of them is non-zero,
    that is when the best ANLS reaches ``threshold``; else 0.0. A thresholded accuracy, not ANLS.
    No ground truth gives 0.0 (``any`` of nothing).

    >>> anls_accuracy("helo", ["hello"]), anls("helo", ["hello"])     # 1 - 1/5 = 0.8 counts as 1
    (1.0, 0.8)
    >>> anls_accuracy("ab", ["abcd", "xyz"]), anls_accuracy("a", ["abc"]), anls_accuracy("a", [])
    (1.0, 0.0, 0.0)
    """
    return float(any(anls(prediction, [gt], threshold) > 0 for gt in answers))
