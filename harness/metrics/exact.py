"""Exact match of a short answer (GQA), under lmms-eval's and LLaVA's normalisations."""
from __future__ import annotations

from harness.metrics.text import delete_ascii_punctuation


def exact_match(prediction: str, target: str) -> float:
    """lmms-eval: strip the prediction, lowercase both, delete every ASCII punctuation
    character from both, then compare.

    >>> exact_match(" T-Shirt.", "t-shirt"), exact_match("left side", "left")
    (1.0, 0.0)
    """
    pred = delete_ascii_punctuation(prediction.strip().lower())
    return float(pred == delete_ascii_punctuation(target.lower()))


def exact_match_llava(prediction: str, target: str) -> float:
    """LLaVA's GQA script: strip the prediction, drop its trailing periods, lowercase, compare
    (other punctuation is kept).

    >>> exact_match_llava("Yes.", "yes"), exact_match_llava("t shirt", "t-shirt")
    (1.0, 0.0)
    """
    return float(prediction.strip().rstrip(".").lower() == target.lower())
