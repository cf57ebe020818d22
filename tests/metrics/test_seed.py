"""SEED scoring: first character after stripping, compared without case."""

from harness.metrics.seed import QUESTION_TYPES, seed_score


def test_seed_score_cases():
    assert [seed_score(p, "B") for p in ("B", " b", "B. a cat", "Because", "(B)", "", "A")] == [
        1.0,
        1.0,
        1.0,
        1.0,
        0.0,
        0.0,
        0.0,
    ]


def test_nine_image_types():
    assert sorted(QUESTION_TYPES) == list(range(1, 10))
    assert QUESTION_TYPES[5] == "instance_counting" and QUESTION_TYPES[9] == "text_recognition"
