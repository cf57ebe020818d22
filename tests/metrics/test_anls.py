"""ANLS against hand-worked values from the DocVQA definition."""
import pytest

from harness.metrics.anls import anls


def test_exact_after_normalisation():
    assert anls("  The  Answer ", ["the answer"]) == 1.0


def test_raw_length_denominator():
    # normalised "helo" vs "hello": distance 1; denominator max(len("  hello  "), len("helo")) = 9
    assert anls("helo", ["  hello  "]) == pytest.approx(1 - 1 / 9)
    # with the un-padded ground truth the denominator is 5
    assert anls("helo", ["hello"]) == pytest.approx(0.8)
    # padding on the prediction counts too: raw len(" helo   ") = 8
    assert anls(" helo   ", ["hello"]) == pytest.approx(1 - 1 / 8)


def test_threshold_boundary():
    assert anls("ab", ["abcd"]) == pytest.approx(0.5)  # 1 - 2/4 = 0.5 is kept
    assert anls("a", ["abc"]) == 0.0  # 1 - 2/3 < 0.5


def test_best_ground_truth_counts():
    assert anls("1986", ["nineteen eighty six", "1985", "1986"]) == 1.0
    assert anls("1985", ["1986", "xxxx"]) == pytest.approx(0.75)


def test_empty_strings():
    assert anls("", [""]) == 1.0  # distance 0, length 0: value 0
    assert anls("", ["abc"]) == 0.0


def test_upper_case_length_quirk():
    # len("ß".upper()) == 2: distance("strasse", "straße") = 2 over len("STRASSE") = 7
    assert anls("strasse", ["straße"]) == pytest.approx(1 - 2 / 7)


def test_no_answers_is_an_error():
    with pytest.raises(ValueError):
        anls("x", [])


def test_v02_thresholded_accuracy():
    from harness.metrics.anls import anls_accuracy

    # each answer alone: 1 - 1/5 = 0.8 counts as 1; 1 - 2/4 = 0.5 counts; 1 - 2/3 does not
    assert anls_accuracy("helo", ["hello"]) == 1.0
    assert anls_accuracy("ab", ["xyz", "abcd"]) == 1.0
    assert anls_accuracy("a", ["abc", "xyz"]) == 0.0
    assert anls_accuracy("a", []) == 0.0  # any() of no answers
