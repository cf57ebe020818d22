"""GQA exact match under lmms-eval's and LLaVA's rules."""

from harness.metrics.exact import exact_match, exact_match_llava


def test_lmms_eval_deletes_punctuation_and_case():
    assert exact_match("  Yes. ", "yes") == 1.0
    assert exact_match("T-Shirt", "t-shirt") == 1.0
    assert exact_match("tshirt", "t-shirt") == 1.0  # punctuation deleted on both sides
    assert exact_match("t shirt", "t-shirt") == 0.0
    assert exact_match("yes .", "yes") == 0.0  # the space left before the deleted period stays
    assert exact_match("left side", "left") == 0.0


def test_llava_drops_trailing_periods_only():
    assert exact_match_llava(" Yes... ", "yes") == 1.0
    assert exact_match_llava("tshirt", "t-shirt") == 0.0
    assert exact_match_llava("yes!", "yes") == 0.0
    assert exact_match_llava("Left", "left") == 1.0


def test_numpy_cell_quirks_of_lmms_eval():
    # a trailing NUL vanishes in a numpy string cell; a lower case longer than the cell is cut
    assert exact_match("yes\x00", "yes") == 1.0
    assert exact_match("İ", "i") == 1.0  # "İ".lower() == "i\u0307", cut to one character
    # "İx" (2 characters) lowers to "i\u0307x" (3), cut to "i\u0307": the x is lost
    assert exact_match("İx", "i\u0307") == 1.0
    assert exact_match("İx", "i\u0307x") == 0.0  # the target's own cell keeps its 3 characters


def test_matches_numpy_itself_on_awkward_strings():
    """Parity with the numpy calls lmms-eval makes (np.asarray, np.char.lower,
    np.char.translate)."""
    import itertools
    import string

    import numpy as np

    table = str.maketrans("", "", string.punctuation)

    def numpy_way(pred, target):
        p, t = np.char.lower(np.asarray([pred.strip()])), np.char.lower(np.asarray([target]))
        return float((np.char.translate(p, table) == np.char.translate(t, table)).mean())

    alphabet = ["A", "İ", "ß", "\x00", ".", " ", "i", "\u0307", "Σ", "ǅ"]
    strings = ["".join(c) for n in range(3) for c in itertools.product(alphabet, repeat=n)]
    for pred, target in itertools.product(strings[::3], strings[::2]):
        assert exact_match(pred, target) == numpy_way(pred, target), (pred, target)
