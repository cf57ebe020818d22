"""MathVista: answer extraction (exact, then rules), normalisation and the correctness test.

Pipeline for one response (stripped first):

1. *exact* (the official pipelines' first step): a multi-choice response equal to a choice;
   an integer answer for which ``int(response)`` works; a float answer for which
   ``float(response)`` works; (ours, so list answers can score without a judge) a list answer
   whose whole response is a bracketed list.
2. *rule* (this project's substitute for the official GPT extractor): ``The answer is X``
   (``X`` read per answer type); a lone option letter; the last bracketed list (list
   answers); the last number (integer and float answers).
3. *judge*: an optional OpenAI-compatible model (:mod:`harness.metrics.judge`), by the task.
4. *none*: the extraction is empty, as in the official pipelines without a judge.

Normalisation then maps the extraction to the answer's form (multi-choice: a letter ``X``
or ``(X)`` → that choice's text, anything else → the Levenshtein-closest choice, so an empty
extraction picks the shortest choice; integer → ``str(int(float(x)))``; float →
``str(round(float(x), precision))``; list → ``str(x)``), and the prediction is right when
``str(pred).strip() == str(answer).strip()``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence

from harness.metrics.choice import closest_choice, lone_letter, option_letters

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+")
LIST = re.compile(r"\[[^\[\]]*\]")
ANSWER_IS = re.compile(r"the (?:final |correct )?answer is\s*:?\s*(.+)", re.IGNORECASE)


def _number(text: str, last: bool = True) -> str | None:
    found = NUMBER.findall(text)
    if not found:
        return None
    return (found[-1] if last else found[0]).replace(",", "")


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands commas removed), or ``None``.

    >>> last_number("from 1,250 to -3.5 units"), last_number("no digits")
    ('-3.5', None)
    """
    return _number(text, last=True)


def exact_extract(response: str, question_type: str, answer_type: str,
                  choices: Sequence[str] | None) -> str | None:
    """Step 1: the response itself, when it already has the answer's form; else ``None``.

    >>> exact_extract("8/11", "multi_choice", "text", ["3/11", "8/11"])
    '8/11'
    >>> exact_extract("14", "free_form", "integer", None), exact_extract("1.50", "free_form", "float", None)
    ('14', '1.5')
    >>> exact_extract("14.0", "free_form", "integer", None) is None
    True
    """
    if not response:
        return None
    if question_type == "multi_choice" and choices and response in choices:
        return response
    if answer_type == "integer":
        try:
            return str(int(response))
        except ValueError:
            pass
    if answer_type == "float":
        try:
            return str(float(response))
        except ValueError:
            pass
    if answer_type == "list" and LIST.fullmatch(response):
        return response
    return None


def _read_answer_is(x: str, question_type: str, answer_type: str, choices) -> str | None:
    x = x.strip().strip("*$`'\" ")
    if x.endswith("."):  # a sentence's full stop ("14." / "3.5."), never part of an answer
        x = x[:-1].strip().strip("*$`'\" ")
    if question_type == "multi_choice":
        return lone_letter(x, len(choices or ())) or x or None
    if answer_type in ("integer", "float"):
        return _number(x, last=False)
    if answer_type == "list":
        found = LIST.findall(x)
        return found[0] if found else (x or None)
    return x or None


def rule_extract(response: str, question_type: str, answer_type: str,
                 choices: Sequence[str] | None) -> str | None:
    """Step 2: the answer by rules, or ``None`` when no rule applies.

    >>> rule_extract('So the answer is "(B) 8/11".', "multi_choice", "text", ["3/11", "8/11"])
    '(B) 8/11'
    >>> rule_extract("The answer is 14.", "free_form", "integer", None)
    '14'
    >>> rule_extract("(c)", "multi_choice", "text", ["x", "y", "z"])
    'C'
    >>> rule_extract("It peaks between [2007, 2008].", "free_form", "list", None)
    '[2007, 2008]'
    >>> rule_extract("about 3 apples and 4.5 pears", "free_form", "float", None)
    '4.5'
    >>> rule_extract("a cat", "multi_choice", "text", ["dog", "cat"]) is None
    True
    """
    if not response:
        return None
    matches = ANSWER_IS.findall(response)
    if matches:
        got = _read_answer_is(matches[-1].splitlines()[0], question_type, answer_type, choices)
        if got:
            return got
    if question_type == "multi_choice":
        return lone_letter(response, len(choices or ()))
    if answer_type == "list":
        found = LIST.findall(response)
        return found[-1] if found else None
    if answer_type in ("integer", "float"):
        return last_number(response)
    return None


def normalize(extraction: object, question_type: str, answer_type: str, choices: Sequence[str] | None,
              precision: float | None) -> str | None:
    """Map an extraction to the answer's form (``None`` when it cannot be read as one).

    >>> ch = ["3/11", "8/11", "6/11"]
    >>> normalize("(B) text", "multi_choice", "text", ch, None), normalize("C", "multi_choice", "text", ch, None)
    ('8/11', '6/11')
    >>> normalize("8/1", "multi_choice", "text", ch, None), normalize("", "multi_choice", "text", ["abc", "d"], None)
    ('8/11', 'd')
    >>> normalize("14.7", "free_form", "integer", None, None), normalize("1.456", "free_form", "float", None, 2.0)
    ('14', '1.46')
    >>> normalize("x", "free_form", "float", None, 1.0) is None
    True
    """
    if question_type == "multi_choice":
        ext = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letters = re.findall(r"\(([a-zA-Z])\)", ext)
        if letters:
            ext = letters[0].upper()
        options = option_letters(len(choices or ()))
        if ext in options:
            return choices[options.index(ext)]
        return closest_choice(ext, list(choices or ()))
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))
        if answer_type == "float":
            value = float(extraction)
            if precision is None or (isinstance(precision, float) and math.isnan(precision)):
                return str(value)
            return str(round(value, int(precision)))
    except (TypeError, ValueError, OverflowError):
        return None
    if answer_type == "list":
        return str(extraction)
    return None if extraction is None else str(extraction)


def is_correct(prediction: object, answer: object) -> bool:
    """``str(pred).strip() == str(answer).strip()`` (``None`` reads ``"None"``, never an answer).

    >>> is_correct("14", " 14 "), is_correct(None, "14"), is_correct("[1, 2]", "[1,2]")
    (True, False, False)
    """
    return str(prediction).strip() == str(answer).strip()
