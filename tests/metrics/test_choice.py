"""Option letters, the first-letter rule and the Levenshtein-closest choice."""

import pytest

from harness.metrics.choice import (
    closest_choice,
    first_char,
    first_letter_correct,
    lettered_options,
    lone_letter,
    option_letters,
)


def test_letters_and_lines():
    assert option_letters(3) == ["A", "B", "C"]
    assert lettered_options(["x y", "z"]) == "A. x y\nB. z"
    with pytest.raises(ValueError):
        option_letters(27)


@pytest.mark.parametrize(
    "pred,answer,want",
    [
        ("A", "A", True),
        ("a", "A", True),
        ("  C.", "C", True),
        ("C) cat", "C", True),
        ("(C)", "C", False),
        ("The answer is C", "C", False),
        ("", "A", False),
        ("D", "C", False),
    ],
)
def test_first_letter_rule(pred, answer, want):
    assert first_letter_correct(pred, answer) is want


def test_first_char():
    assert first_char("\n B") == "B" and first_char("   ") == ""


@pytest.mark.parametrize(
    "text,n,want",
    [
        ("B", 4, "B"),
        ("b", 4, "B"),
        ("(d)", 4, "D"),
        ("C.", 3, "C"),
        ("A)", 2, "A"),
        ("A:", 2, "A"),
        ("E", 4, None),
        ("B.", 1, None),
        ("BC", 4, None),
        ("B 8/11", 4, None),
        ("", 4, None),
    ],
)
def test_lone_letter(text, n, want):
    assert lone_letter(text, n) == want


def test_closest_choice_takes_first_on_ties_and_shortest_for_empty():
    assert closest_choice("cat", ["bat", "cab", "cat"]) == "cat"
    assert closest_choice("cot", ["bat", "cat"]) == "cat"  # distance 2 vs 1
    assert closest_choice("zzz", ["abc", "xyz"]) == "xyz"  # 3 vs 2
    assert closest_choice("q", ["ab", "cd"]) == "ab"  # tie: the first one
    assert closest_choice("", ["four", "two", "six"]) == "two"  # shortest, first among equals
