"""Yes/no parsers against hand-worked cases from their definitions (benchmarks.md)."""

import pytest

from harness.metrics.yesno import exact_yes_no, ground_truth_yes_no, llava_yes_no, mme_yes_no


@pytest.mark.parametrize(
    "text,want",
    [
        ("yes", "yes"),
        ("  No\n", "no"),
        ("YES", "yes"),
        ("Yes.", "other"),
        ("yes, there is", "other"),
        ("", "other"),
        ("y", "other"),
    ],
)
def test_exact_parse_only_accepts_bare_yes_no(text, want):
    assert exact_yes_no(text) == want


@pytest.mark.parametrize(
    "text,want",
    [
        ("No, there is not.", "no"),
        ("There is no dog in the image.", "no"),
        ("It is not there", "no"),
        ("no.", "no"),
        ("Yes, but no.", "no"),  # commas dropped: "Yes but no" has the word "no"
        ("Yes. No.", "yes"),  # only the text before the first '.' counts
        ("Not at all", "yes"),  # "Not" (capital) is not one of no / No / not
        ("NO", "yes"),  # upper case is not matched either
        ("nope", "yes"),
        ("no,", "no"),  # the comma is dropped before splitting
        ("No\nthere", "yes"),  # split on single spaces only: "No\nthere" is one word
        ("", "yes"),
    ],
)
def test_llava_parse(text, want):
    assert llava_yes_no(text) == want


@pytest.mark.parametrize(
    "text,want",
    [
        ("none", "no"),  # first four characters "none" contain "no"
        ("y", "yes"),
        ("N", "no"),
        ("x", "other"),
        ("1", "other"),
        ("Yes.", "yes"),
        ("y.", "yes"),  # dots removed before the single-character rule
        ("yesterday", "yes"),  # "yest" contains "yes"
        ("nothing", "no"),
        ("not sure", "no"),
        ("I don't know", "other"),  # "i do": neither
        ("The answer is yes", "other"),  # yes only beyond the first four characters
        ("a no", "no"),
        ("", "other"),
    ],
)
def test_mme_parse(text, want):
    assert mme_yes_no(text) == want


def test_ground_truth_labels():
    assert [ground_truth_yes_no(a) for a in ("Yes", "no", " NO. ", "maybe", None, 1)] == [
        "yes",
        "no",
        "no",
        None,
        None,
        None,
    ]
