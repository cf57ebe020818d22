"""MathVista scoring as lmms-eval scores ``mathvista_testmini_format`` (v0.2.4 and today alike).

Pipeline for one response (stripped first, as lmms-eval's task layer does):

1. *exact*: an empty response extracts ``""``; a multi-choice response equal to a choice is
   taken; an integer answer for which ``int(response)`` works (``str`` of it); a float answer
   for which ``float(response)`` works (``str`` of it).
2. *rule* (opt-in, this project's, never part of a protocol): ``The answer is X``, a lone option
   letter, a whole/last bracketed list, the last number.
3. *judge*: the model named by the task's judge config answers :func:`judge_prompt` (lmms-eval's
   demo prompt with its five worked examples, then the hub's ``query`` and the response).
4. otherwise the extraction is ``""`` (what lmms-eval records when no judge answered).

Normalisation then maps the extraction to the answer's form (multi-choice: a letter ``X`` or
``(X)`` → that choice, anything else → the Levenshtein-closest choice, so ``""`` picks the
shortest; integer → ``str(int(float(x)))``; float → ``str(round(float(x), precision))``;
list → ``str(x)``), and a prediction is right when ``str(pred).strip() == str(answer).strip()``.

The float step is lmms-eval's defect, in every version from its first MathVista task to today's
main: ``precision`` comes from the hub as a Python float (``1.0``), ``round()`` refuses a float
number of digits, the error is swallowed and the prediction is ``None``, so float answers never
match. ``precision_defect=False`` rounds to ``int(precision)`` as MathVista's own scorer does.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from harness.metrics.choice import closest_choice, lone_letter, option_letters

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+")
LIST = re.compile(r"\[[^\[\]]*\]")
ANSWER_IS = re.compile(r"the (?:final |correct )?answer is\s*:?\s*(.+)", re.IGNORECASE)

# lmms-eval's DEMO_PROMPT for the answer-extraction judge (the same text in v0.2.4 and today).
DEMO_PROMPT = (
    "\n"
    "Please read the following example. Then extract the answer from the model "
    "response and type it at the end of the prompt.\n"
    "\n"
    "Hint: Please answer the question requiring an integer answer and provide the "
    "final value, e.g., 1, 2, 3, at the end.\n"
    "Question: Which number is missing?\n"
    "\n"
    "Model response: The number missing in the sequence is 14.\n"
    "\n"
    "Extracted answer: 14\n"
    "\n"
    "Hint: Please answer the question requiring a floating-point number with one "
    "decimal place and provide the final value, e.g., 1.2, 1.3, 1.4, at the end.\n"
    "Question: What is the fraction of females facing the camera?\n"
    "\n"
    "Model response: The fraction of females facing the camera is 0.6, which means "
    "that six out of ten females in the group are facing the camera.\n"
    "\n"
    "Extracted answer: 0.6\n"
    "\n"
    "Hint: Please answer the question requiring a floating-point number with two "
    "decimal places and provide the final value, e.g., 1.23, 1.34, 1.45, at the end.\n"
    "Question: How much money does Luca need to buy a sour apple candy and a "
    "butterscotch candy? (Unit: $)\n"
    "\n"
    "Model response: Luca needs $1.45 to buy a sour apple candy and a butterscotch candy.\n"
    "\n"
    "Extracted answer: 1.45\n"
    "\n"
    "Hint: Please answer the question requiring a Python list as an answer and "
    "provide the final list, e.g., [1, 2, 3], [1.2, 1.3, 1.4], at the end.\n"
    "Question: Between which two years does the line  graph saw its maximum peak?\n"
    "\n"
    "Model response: The line graph saw its maximum peak between 2007 and 2008.\n"
    "\n"
    "Extracted answer: [2007, 2008]\n"
    "\n"
    "Hint: Please answer the question and provide the correct option letter, e.g., "
    "A, B, C, D, at the end.\n"
    "Question: What fraction of the shape is blue?\n"
    "Choices:\n"
    "(A) 3/11\n"
    "(B) 8/11\n"
    "(C) 6/11\n"
    "(D) 3/5\n"
    "\n"
    "Model response: The correct answer is (B) 8/11.\n"
    "\n"
    "Extracted answer: B\n"
)


def judge_prompt(query: str, response: str) -> str:
    """The judge's prompt: the demo prompt (stripped), the hub's query, the response.

    >>> p = judge_prompt("Q?", "It is 4.")
    >>> p.startswith("Please read the following example.")
    True
    >>> p.endswith("\\n\\nQ?\\n\\nIt is 4.\\n\\nExtracted answer: ")
    True
    >>> "Choices:\\n(A) 3/11\\n(B) 8/11" in p
    True
    """
    return f"{DEMO_PROMPT.strip()}\n\n{query}\n\n{response}\n\nExtracted answer: "


def _number(text: str, last: bool = True) -> str | None:
    found: list[str] = NUMBER.findall(text)
    if not found:
        return None
    return (found[-1] if last else found[0]).replace(",", "")


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (thousands commas removed), or ``None``.

    >>> last_number("from 1,250 to -3.5 units"), last_number("no digits")
    ('-3.5', None)
    """
    return _number(text, last=True)


def exact_extract(
    response: str, question_type: str, answer_type: str, choices: Sequence[str] | None
) -> str | None:
    """Step 1 (lmms-eval's before its judge): ``""`` for an empty response, the response when it
    already has the answer's form, else ``None`` (the judge's turn). Python's own ``int`` and
    ``float`` decide, so ``"1_000"``, ``"nan"`` and ``"1e3"`` count.

    >>> exact_extract("8/11", "multi_choice", "text", ["3/11", "8/11"])
    '8/11'
    >>> exact_extract("14", "free_form", "integer", None)
    '14'
    >>> exact_extract("1.50", "free_form", "float", None)
    '1.5'
    >>> exact_extract("14.0", "free_form", "integer", None) is None
    True
    >>> exact_extract("", "free_form", "list", None)
    ''
    >>> exact_extract("[1, 2]", "free_form", "list", None) is None
    True
    """
    if not response:
        return ""
    if question_type == "multi_choice" and response in (choices or ()):
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
    return None


def _read_answer_is(
    x: str, question_type: str, answer_type: str, choices: Sequence[str] | None
) -> str | None:
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


def rule_extract(
    response: str, question_type: str, answer_type: str, choices: Sequence[str] | None
) -> str | None:
    """Step 2 (opt-in): the answer by this project's rules, or ``None`` when none applies.

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
    if answer_type == "list" and LIST.fullmatch(response):
        return response
    matches = ANSWER_IS.findall(response)
    if matches:
        got = _read_answer_is(matches[-1].splitlines()[0], question_type, answer_type, choices)
        if got:
            return got
    if question_type == "multi_choice":
        return lone_letter(response, len(choices or ()))
    if answer_type == "list":
        found: list[str] = LIST.findall(response)
        return found[-1] if found else None
    if answer_type in ("integer", "float"):
        return last_number(response)
    return None


def _round(value: float, precision: object, precision_defect: bool) -> float:
    if precision_defect:
        return round(value, precision)  # type: ignore[call-overload,no-any-return]  # int/None
    if precision is None or (isinstance(precision, float) and math.isnan(precision)):
        return value
    return round(value, int(precision))  # type: ignore[call-overload]


def normalize(
    extraction: object,
    question_type: str,
    answer_type: str,
    choices: Sequence[str] | None,
    precision: object,
    precision_defect: bool = True,
) -> str | None:
    """Map an extraction to the answer's form (``None`` when it cannot be read as one).

    >>> ch = ["3/11", "8/11", "6/11"]
    >>> [normalize(x, "multi_choice", "text", ch, None) for x in ("(B) text", "C", "8/1", "")]
    ['8/11', '6/11', '8/11', '3/11']
    >>> normalize("14.7", "free_form", "integer", None, None)
    '14'
    >>> normalize("1.456", "free_form", "float", None, 2.0) is None   # round(x, 2.0) raises
    True
    >>> [normalize("1.456", "free_form", "float", None, p) for p in (2, None)]
    ['1.46', '1']
    >>> normalize("1.456", "free_form", "float", None, 2.0, precision_defect=False)
    '1.46'
    """
    if question_type == "multi_choice":
        ext = extraction.strip() if isinstance(extraction, str) else str(extraction)
        letters = re.findall(r"\(([a-zA-Z])\)", ext)
        if letters:
            ext = letters[0].upper()
        options = option_letters(len(choices or ()))
        if ext in options:
            return choices[options.index(ext)]  # type: ignore[index]
        return closest_choice(ext, list(choices or ()))
    try:
        if answer_type == "integer":
            return str(int(float(extraction)))  # type: ignore[arg-type]
        if answer_type == "float":
            value = float(extraction)  # type: ignore[arg-type]
            return str(_round(value, precision, precision_defect))
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
