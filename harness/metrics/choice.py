"""Multiple-choice helpers: option letters, the first-letter rule, the Levenshtein-closest
choice."""

from __future__ import annotations

import re
import string
from collections.abc import Sequence

from harness.metrics.text import levenshtein

LETTERS = string.ascii_uppercase


def option_letters(n: int) -> list[str]:
    """The first ``n`` option letters.

    >>> option_letters(4)
    ['A', 'B', 'C', 'D']
    """
    if not 0 <= n <= len(LETTERS):
        raise ValueError(f"cannot letter {n} options")
    return list(LETTERS[:n])


def lettered_options(choices: Sequence[str]) -> str:
    """Choices as prompt lines ``A. first``, ``B. second``, ...

    >>> print(lettered_options(["red", "blue"]))
    A. red
    B. blue
    """
    return "\n".join(f"{letter}. {c}" for letter, c in zip(option_letters(len(choices)), choices))


def first_char(prediction: str) -> str:
    """SEED's reading of an answer: the stripped prediction's first character ('' if empty).

    >>> first_char("  B. a cat"), first_char("")
    ('B', '')
    """
    pred = prediction.strip()
    return pred[:1]


def first_letter_correct(prediction: str, answer: str) -> bool:
    """SEED's rule: the prediction's first character equals the answer letter, ignoring case
    (both lowercased and stripped, as lmms-eval compares them).

    >>> (first_letter_correct("b", "B"), first_letter_correct("(B)", "B"),
    ...  first_letter_correct("Because", "B"))
    (True, False, True)
    """
    return first_char(prediction).lower() == answer.lower().strip()


_LONE_LETTER = re.compile(r"^\(?([A-Za-z])\)?[.:]?$")


def lone_letter(text: str, n_choices: int) -> str | None:
    """An answer that is nothing but an option letter (``B``, ``(b)``, ``B.``, ``B)``), upper-cased,
    if it names one of ``n_choices`` options; else ``None``.

    >>> lone_letter(" (b) ", 4), lone_letter("C.", 4), lone_letter("E", 4), lone_letter("B cat", 4)
    ('B', 'C', None, None)
    """
    m = _LONE_LETTER.match(text.strip())
    if not m:
        return None
    letter = m.group(1).upper()
    return letter if letter in LETTERS[:n_choices] else None


def closest_choice(text: str, choices: Sequence[str]) -> str:
    """The choice at the smallest Levenshtein distance from ``text`` (the first on ties).

    >>> closest_choice("8/12", ["3/11", "8/11", "6/11"])
    '8/11'
    >>> closest_choice("", ["long one", "ab", "xy"])   # an empty answer picks the shortest
    'ab'
    """
    if not choices:
        raise ValueError("closest_choice: no choices")
    distances = [levenshtein(text, c) for c in choices]
    return choices[distances.index(min(distances))]
