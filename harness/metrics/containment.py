"""OCRBench's metric: a sample scores 1 when a ground truth is contained in the prediction."""

from __future__ import annotations

from collections.abc import Sequence

from harness.metrics.text import fold_fullwidth

FORMULA_SOURCE = "HME100k"  # handwritten mathematical expressions: spaces removed, case kept


def ocrbench_match(
    prediction: str,
    answers: Sequence[str],
    source: str,
    fold_width: bool = True,
    lower_first: bool = False,
) -> float:
    """1.0 if any ground truth, normalised like the prediction, is a substring of it.

    ``source`` is the record's source data set (``dataset``). For ``HME100k`` both sides are
    stripped, newlines become spaces and every space is deleted, case kept; for every other
    source both are lowercased, stripped and newlines become spaces. ``fold_width`` (lmms-eval)
    first folds full-width ASCII forms and the ideographic space on both sides (the HME100k
    branch excepted). ``lower_first`` (lmms-eval v0.2.0–v0.7.1, a defect) lowercases the
    prediction before the branch, so a formula answer with a capital never matches.

    >>> ocrbench_match("The text reads: Hello World", ["hello world"], "IIIT5K")
    1.0
    >>> ocrbench_match("\\\\frac {a} {b}", ["\\\\frac{a}{b}"], "HME100k")
    1.0
    >>> ocrbench_match("X^2", ["x^2"], "HME100k")      # case kept for formulas
    0.0
    >>> ocrbench_match("ＡＢＣ１", ["abc1"], "IIIT5K")
    1.0
    >>> ocrbench_match("ＡＢＣ１", ["abc1"], "IIIT5K", fold_width=False)
    0.0
    >>> ocrbench_match("X^2", ["X^2"], "HME100k")
    1.0
    >>> ocrbench_match("X^2", ["X^2"], "HME100k", lower_first=True)   # v0.2: "x^2" holds no "X^2"
    0.0
    """
    if lower_first:
        prediction = prediction.lower()
    if source == FORMULA_SOURCE:
        pred = _squeeze(prediction)
        return float(any(_squeeze(a) in pred for a in answers))
    if fold_width:
        prediction = fold_fullwidth(prediction)
        answers = [fold_fullwidth(a) for a in answers]
    pred = prediction.lower().strip().replace("\n", " ")
    return float(any(a.lower().strip().replace("\n", " ") in pred for a in answers))


def _squeeze(s: str) -> str:
    return s.strip().replace("\n", " ").replace(" ", "")
