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
