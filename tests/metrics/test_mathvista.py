"""MathVista scoring worked by hand from lmms-eval's definition (v0.2.4 and today's main score
alike): exact step, judge reply or empty, normalisation with the float-precision defect,
str-strip equality. Expected values are worked out below each case, not computed by the code."""

import pytest

from harness.metrics.mathvista import (
    DEMO_PROMPT,
    exact_extract,
    is_correct,
    judge_prompt,
    last_number,
    normalize,
    rule_extract,
)

CH = ["3/11", "8/11", "6/11", "3/5"]


def score(response, qtype, atype, answer, choices=None, precision=0, judge=None, defect=True):
    """lmms-eval's pipeline: strip; exact step; else the judge's reply (``judge``), else ""."""
    r = response.strip()
    ext = exact_extract(r, qtype, atype, choices)
    if ext is None:
        ext = judge if judge is not None else ""
    return is_correct(
        normalize(ext, qtype, atype, choices, precision, precision_defect=defect), answer
    )


@pytest.mark.parametrize(
    "response,judge,right",
    [
        ("8/11", None, True),  # equals a choice: taken as is
        (" 8/11\n", None, True),  # stripped before scoring
        ("B", None, False),  # no judge: "" -> closest choice to "" is the shortest, "3/5"
        ("B", "B", True),  # the judge's letter -> choices[1]
        ("I pick (B).", "(B) 8/11", True),  # "(B)" inside parentheses -> B
        ("eight elevenths", "8/12", True),  # Levenshtein: 1 from "8/11", 2+ from the others
        ("b", "b", False),  # lower-case "b" is no option letter: distances 4,4,4,3 -> "3/5"
        ("", "B", False),  # empty response: "" without asking the judge -> "3/5"
    ],
)
def test_multi_choice(response, judge, right):
    assert score(response, "multi_choice", "text", "8/11", CH, judge=judge) is right


def test_empty_extraction_picks_the_shortest_choice():
    assert normalize("", "multi_choice", "text", CH, 0) == "3/5"
    assert (
        normalize("", "multi_choice", "text", ["abc", "de", "fg"], 0) == "de"
    )  # first of the shortest


@pytest.mark.parametrize(
    "response,judge,right",
    [
        ("14", None, True),
        ("+14", None, True),  # int("+14") = 14
        ("1_4", None, True),  # int() reads underscores: 14
        ("14.0", None, False),  # int("14.0") fails; no judge -> "" -> int(float("")) fails -> None
        ("14.0", "14.0", True),  # the judge's "14.0" -> str(int(float)) = "14"
        ("There are 14.", None, False),  # no rules in either protocol
        ("There are 14.", "14", True),
        ("fourteen", "inf", False),  # int(float("inf")) overflows -> None
    ],
)
def test_integer(response, judge, right):
    assert score(response, "free_form", "integer", "14", judge=judge) is right


@pytest.mark.parametrize(
    "response,precision,defect,right",
    [
        ("1.5", 1.0, True, False),  # the hub's float precision: round(1.5, 1.0) raises -> None
        ("1.5", 1.0, False, True),  # rounded to int(1.0) = 1 place: "1.5"
        ("1.50", 1, True, True),  # an int precision rounds: "1.5"
        ("1.46", 1, True, True),  # round(1.46, 1) = 1.5
        ("1.44", 1, True, False),  # 1.4
        ("1.5", 0, True, False),  # precision missing reads 0: round(1.5, 0) = 2.0 -> "2.0"
        ("1.5", None, True, False),  # round(1.5, None) = 2 -> "2"
    ],
)
def test_float(response, precision, defect, right):
    assert score(response, "free_form", "float", "1.5", precision=precision, defect=defect) is right


def test_float_answers_never_match_under_the_hub_precision():
    for response in ("1.45", "1.450", "$1.45"):
        for judge in (None, "1.45"):
            assert not score(response, "free_form", "float", "1.45", precision=2.0, judge=judge)
    assert score("1.450", "free_form", "float", "1.45", precision=2.0, defect=False)


@pytest.mark.parametrize(
    "response,judge,right",
    [
        ("[2007, 2008]", None, False),  # lists are never exact: no judge -> "" != answer
        ("[2007, 2008]", "[2007, 2008]", True),
        ("2007 and 2008", "[2007,2008]", False),  # compared as written
    ],
)
def test_list(response, judge, right):
    assert score(response, "free_form", "list", "[2007, 2008]", judge=judge) is right


def test_exact_step():
    assert exact_extract("", "free_form", "integer", None) == ""
    assert exact_extract("1e3", "free_form", "float", None) == "1000.0"
    assert exact_extract("nan", "free_form", "float", None) == "nan"
    assert exact_extract("B", "multi_choice", "text", CH) is None
    assert exact_extract("14", "free_form", "list", None) is None


def test_judge_prompt_is_lmms_evals_layout():
    p = judge_prompt("Hint: integer.\nQuestion: How many?", "Five apples.")
    head = (
        "Please read the following example. "
        "Then extract the answer from the model response and type it"
    )
    assert p.startswith(head) and p.count("Extracted answer:") == 6
    assert p.endswith(
        "Extracted answer: B\n\nHint: integer.\nQuestion: How many?\n\n"
        "Five apples.\n\nExtracted answer: "
    )
    assert (
        "Question: What fraction of the shape is blue?\nChoices:\n(A) 3/11\n(B) 8/11" in DEMO_PROMPT
    )
    assert "line  graph" in DEMO_PROMPT  # upstream's double space, kept


def test_opt_in_rules():
    assert rule_extract("The answer is (B) 8/11.", "multi_choice", "text", CH) == "(B) 8/11"
    assert rule_extract("[2007, 2008]", "free_form", "list", None) == "[2007, 2008]"
    assert rule_extract("I count 12, then 14", "free_form", "integer", None) == "14"
    assert rule_extract("nothing here", "free_form", "integer", None) is None
    assert last_number("x = 3 and y = 4.25") == "4.25"


def test_is_correct_compares_stripped_strings():
    assert (
        is_correct(" 3.5", "3.5 ") and not is_correct("3.5", "3.50") and not is_correct(None, "14")
    )
