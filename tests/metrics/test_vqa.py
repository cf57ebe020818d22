"""VQA soft accuracy and answer normalisation, against hand-worked cases from the VQA/EvalAI
definitions (both protocols)."""

import pytest

from harness.metrics.vqa import (
    CONTRACTIONS,
    normalize_answer,
    normalize_prediction_official,
    process_digit_article,
    process_punctuation,
    soft_accuracy,
    vqa_accuracy,
)


@pytest.mark.parametrize(
    "k, expected",
    [
        (0, 0.0),
        (1, 0.9 * (1 / 3)),  # the 9 non-matching answers each see 1 match among the others
        (2, 0.2 * (1 / 3) + 0.8 * (2 / 3)),
        (3, 0.3 * (2 / 3) + 0.7 * 1.0),
        (4, 1.0),
        (10, 1.0),
    ],
)
def test_soft_accuracy_by_number_of_matching_answers(k, expected):
    answers = ["yes"] * k + ["no"] * (10 - k)
    assert soft_accuracy("yes", answers) == pytest.approx(expected)


def test_punctuation_replaced_or_deleted():
    assert process_punctuation("t-shirt") == "t shirt"  # no neighbouring space: replaced
    assert (
        process_punctuation("t-shirt - red") == "tshirt  red"
    )  # one '-' next to a space: all deleted
    assert process_punctuation("yes!") == "yes "
    assert process_punctuation("(yes)") == " yes "
    assert process_punctuation("1,000 (about)") == "1000 about"  # digit,digit: everything deleted
    assert process_punctuation("it's") == "it's"  # apostrophes are not in the list


def test_periods():
    assert process_punctuation("3.5") == "3.5"  # followed by a digit: kept
    assert process_punctuation("mr. smith.") == "mr smith"
    assert process_punctuation("a.5") == "a.5"  # only what follows the period matters
    assert process_punctuation("." * 33) == "."  # at most 32 removed, as the reference code


def test_digits_articles_contractions():
    assert process_digit_article("None of The Three") == "0 of 3"  # 'none' counts as a number word
    assert process_digit_article("an apple a day") == "apple day"
    assert process_digit_article("dont  cant") == "don't can't"
    assert process_digit_article("couldnt've couldn'tve") == "couldn't've couldn't've"
    assert (
        process_digit_article("im ive") == "im ive"
    )  # the reference keys are capitalised: never matched
    assert process_digit_article("somebody'd") == "somebodyd"  # the reference's inverted entry
    assert {CONTRACTIONS[k] for k in ("ow's'at", "'ows'at", "'ow'sat")} == {"'ow's'at"}
    assert (
        CONTRACTIONS["yall'd've"]
        == CONTRACTIONS["y'alld've"]
        == CONTRACTIONS["y'all'dve"]
        == "y'all'd've"
    )
    assert "wed" not in CONTRACTIONS and "shed" not in CONTRACTIONS  # only the 've forms are listed


def test_evalai_processor():
    assert normalize_answer("The Dog's Bone?") == "dog 's bone"
    assert normalize_answer("1,000") == "1000"
    assert normalize_answer("Hello,\tWorld!\n") == "hello world"
    assert normalize_answer("Two-Thirds") == "2 thirds"  # hyphen -> space, then the number word


def test_official_prediction_processing():
    assert (
        normalize_prediction_official("The Dog's Bone?") == "dog's bone"
    )  # no 's split, '?' -> space
    assert (
        normalize_prediction_official("Yes,\tsir") == "yes sir"
    )  # ',' before a tab counts as no space


def test_lmms_eval_normalises_ground_truths_always():
    assert vqa_accuracy("red", ["Red!"] * 10) == 1.0
    assert vqa_accuracy("two", ["two"] * 4 + ["dog"] * 6) == 1.0


def test_official_normalises_ground_truths_only_when_they_disagree():
    assert vqa_accuracy("red", ["Red!"] * 10, protocol="official") == 0.0  # all equal: left raw
    # they disagree: punctuation step only, so the number word stays a word while the prediction
    # becomes "2"
    assert vqa_accuracy("two", ["two"] * 4 + ["dog"] * 6, protocol="official") == 0.0
    assert vqa_accuracy("T-Shirt", ["t-shirt"] * 4 + ["shirt"] * 6, protocol="official") == 1.0


def test_unknown_protocol_and_empty_answers():
    with pytest.raises(ValueError):
        vqa_accuracy("a", ["a"], protocol="vlmevalkit")
    with pytest.raises(ValueError):
        vqa_accuracy("a", [])
