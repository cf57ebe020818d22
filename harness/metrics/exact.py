"""Exact match of a short answer (GQA), under lmms-eval's and LLaVA's normalisations."""

from __future__ import annotations

from harness.metrics.text import delete_ascii_punctuation


def numpy_cell(s: str, width: int | None = None) -> str:
    """``s`` as a numpy ``<U{width}`` array cell reads it back: cut to ``width`` characters
    (default ``len(s)``), trailing NUL characters dropped.

    >>> numpy_cell("yes\\x00"), numpy_cell("i\\u0307x", 2)
    ('yes', 'i̇')
    """
    return s[: len(s) if width is None else width].rstrip("\x00")


def exact_match(prediction: str, target: str) -> float:
    """lmms-eval's ``exact_match`` (``ignore_case``, ``ignore_punctuation``) on the stripped
    prediction: each side becomes a one-cell numpy string array, is lowercased in place (the
    cell keeps the side's original length, so a lower case that grows is cut: ``İ`` becomes
    ``i`` + U+0307), every ASCII punctuation character is deleted, and the cells are compared
    (numpy drops trailing NULs).

    >>> exact_match(" T-Shirt.", "t-shirt"), exact_match("left side", "left")
    (1.0, 0.0)
    >>> exact_match("yes\\x00", "yes"), exact_match("İ", "i"), exact_match("a\\x00.", "a")
    (1.0, 1.0, 1.0)
    """
    pred, ref = prediction.strip(), target
    pred = delete_ascii_punctuation(numpy_cell(numpy_cell(pred).lower(), len(pred)))
    ref = delete_ascii_punctuation(numpy_cell(numpy_cell(ref).lower(), len(ref)))
    return float(pred.rstrip("\x00") == ref.rstrip("\x00"))


def exact_match_llava(prediction: str, target: str) -> float:
    """LLaVA's GQA script: strip the prediction, drop its trailing periods, lowercase, compare
    (other punctuation is kept).

    >>> exact_match_llava("Yes.", "yes"), exact_match_llava("t shirt", "t-shirt")
    (1.0, 0.0)
    """
    return float(prediction.strip().rstrip(".").lower() == target.lower())
