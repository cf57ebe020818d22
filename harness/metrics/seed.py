"""SEED-Bench (image part): accuracy by the first-letter rule, overall and per question type."""

from __future__ import annotations

from harness.metrics.choice import first_letter_correct

QUESTION_TYPES = {
    1: "scene_understanding",
    2: "instance_identity",
    3: "instance_attributes",
    4: "instance_location",
    5: "instance_counting",
    6: "spatial_relation",
    7: "instance_interaction",
    8: "visual_reasoning",
    9: "text_recognition",
}
"""The nine image question types (``question_type_id`` 1–9); 10–12 are video."""


def seed_score(prediction: str, answer: str) -> float:
    """1.0 when the stripped prediction's first character is the answer letter (any case).

    >>> seed_score(" A. a dog", "A"), seed_score("a", "A"), seed_score("The answer is A", "A")
    (1.0, 1.0, 0.0)
    """
    return 1.0 if first_letter_correct(prediction, answer) else 0.0
