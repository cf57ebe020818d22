"""MME acc / acc+ / score and the perception & cognition sums, worked by hand."""

import numpy as np
import pytest

from harness.metrics.mme import (
    COGNITION,
    PERCEPTION,
    SubtaskTally,
    mme_metrics,
    perception_from_features,
    tally,
    tally_features,
)


def test_acc_plus_counts_images_with_both_questions_right():
    # count: img a both right, img b one right, img c none right -> acc 3/6, acc+ 1/3
    answers = [
        ("count", "a", "0", True),
        ("count", "a", "1", True),
        ("count", "b", "2", True),
        ("count", "b", "3", False),
        ("count", "c", "4", False),
        ("count", "c", "5", False),
    ]
    m = mme_metrics(tally(answers))
    assert m["count/acc"] == pytest.approx(50.0)
    assert m["count/acc_plus"] == pytest.approx(100 / 3)
    assert m["count/score"] == pytest.approx(50.0 + 100 / 3)
    assert m["perception"] == pytest.approx(50.0 + 100 / 3) and m["cognition"] == 0.0


def test_same_image_name_in_two_subtasks_are_different_pairs():
    t = tally(
        [
            ("OCR", "x.jpg", "0", True),
            ("OCR", "x.jpg", "1", True),
            ("artwork", "x.jpg", "2", True),
            ("artwork", "x.jpg", "3", False),
        ]
    )
    assert t["OCR"].images_correct == 1 and t["artwork"].images_correct == 0


def test_incomplete_pair_cannot_be_right_for_acc_plus():
    t = tally([("color", "a", "0", True)])  # its partner question failed and is absent
    assert t["color"] == SubtaskTally(questions=1, correct=1, images=1, images_correct=0)


def test_duplicated_pair_counts_as_copies():
    once = tally(
        [
            ("scene", "a", "0", True),
            ("scene", "a", "1", True),
            ("scene", "b", "2", True),
            ("scene", "b", "3", False),
        ]
    )
    twice_a = tally(
        [
            ("scene", "a", "0", True),
            ("scene", "a", "1", True),
            ("scene", "a", "0", True),
            ("scene", "a", "1", True),
            ("scene", "b", "2", True),
            ("scene", "b", "3", False),
        ]
    )
    assert once["scene"] == SubtaskTally(4, 3, 2, 1)
    assert twice_a["scene"] == SubtaskTally(6, 5, 3, 2)


def test_perfect_scores_reach_the_maxima():
    answers = []
    for s in PERCEPTION + COGNITION:
        answers += [(s, "img", f"{s}0", True), (s, "img", f"{s}1", True)]
    m = mme_metrics(tally(answers))
    assert (m["perception"], m["cognition"], m["total"]) == (2000.0, 800.0, 2800.0)


def test_features_sum_gives_the_same_perception():
    units = [
        [("existence", "a", "0", True), ("existence", "a", "1", False)],
        [("existence", "b", "2", True), ("existence", "b", "3", True)],
        [("code_reasoning", "c", "4", True), ("code_reasoning", "c", "5", True)],
        [("OCR", "d", "6", False), ("OCR", "d", "7", True)],
    ]
    feats = np.asarray([tally_features(tally(u)) for u in units])
    for idx in ([0, 1, 2, 3], [1, 1, 3, 0], [2, 2, 2, 2]):
        want = mme_metrics(tally([a for i in idx for a in units[i]]))["perception"]
        assert perception_from_features(feats[idx].sum(axis=0)) == pytest.approx(want)
    batch = perception_from_features(feats[[[0, 1, 2, 3], [1, 1, 3, 0]]].sum(axis=1))
    assert batch.shape == (2,)
