"""POPE metrics against hand-worked confusion matrices."""

import numpy as np
import pytest

from harness.metrics.pope import Counts, binary_metrics, count, f1_from_counts


def test_counts_and_metrics_by_hand():
    # truth:  yes yes yes no  no  no  yes
    # pred:   yes yes no  yes no  ??  ??   (?? = unparsed)
    pairs = [
        ("yes", "yes"),
        ("yes", "yes"),
        ("no", "yes"),
        ("yes", "no"),
        ("no", "no"),
        ("other", "no"),
        ("other", "yes"),
    ]
    c = count(pairs)
    assert c == Counts(tp=2, fp=1, tn=1, fn=1, other=2) and c.n == 7
    m = binary_metrics(c)
    assert m["accuracy"] == pytest.approx(3 / 7)  # unparsed answers are wrong
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)  # the unparsed yes-question is not a FN
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["yes_ratio"] == pytest.approx(3 / 7)  # predictions that are yes, over all predictions


def test_yes_ratio_comes_from_predictions_not_truth():
    # all truths are "yes"; the model says yes only once in four
    m = binary_metrics(count([("yes", "yes"), ("no", "yes"), ("no", "yes"), ("no", "yes")]))
    assert m["yes_ratio"] == pytest.approx(0.25)  # lmms-eval would report 1.0


def test_zero_denominators_give_zero():
    m = binary_metrics(count([("no", "no"), ("no", "no")]))
    assert m["precision"] == 0.0 and m["recall"] == 0.0 and m["f1"] == 0.0 and m["accuracy"] == 1.0
    assert binary_metrics(Counts())["accuracy"] == 0.0


def test_f1_closed_form_matches_precision_recall_form():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 20, size=(50, 5))
    fast = f1_from_counts(counts[:, 0], counts[:, 1], counts[:, 3])
    slow = [binary_metrics(list(row))["f1"] for row in counts]
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12)
