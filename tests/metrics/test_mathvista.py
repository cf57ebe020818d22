"""MathVista extraction, normalisation and correctness, worked from the definitions."""
import pytest

from harness.metrics.mathvista import exact_extract, is_correct, last_number, normalize, rule_extract

CH = ["3/11", "8/11", "6/11", "3/5"]


def score(response, qtype, atype, answer, choices=None, precision=None):
    """The whole rule pipeline for one response (no judge): exact, rule, else empty."""
    r = response.strip()
    ext = exact_extract(r, qtype, atype, choices)
    if ext is None:
        ext = rule_extract(r, qtype, atype, choices) or ""
    return is_correct(normalize(ext, qtype, atype, choices, precision), answer)


@pytest.mark.parametrize("response,want", [
    ("8/11", "8/11"),                 # exact: equals a choice
    ("B", "8/11"),                    # lone letter
    ("(b)", "8/11"),
    ("The answer is (B) 8/11.", "8/11"),
    ("The answer is C", "6/11"),
    ('The answer is "3/5".', "3/5"),
    ("The correct answer is 8/12", "8/11"),   # Levenshtein-closest choice
    ("B. 8/11", "3/5"),               # no rule applies: empty extraction -> the shortest choice
    ("", "3/5"),
])
def test_multi_choice_pipeline(response, want):
    ext = exact_extract(response, "multi_choice", "text", CH) or rule_extract(response, "multi_choice", "text", CH) or ""
    assert normalize(ext, "multi_choice", "text", CH, None) == want


def test_letter_inside_parentheses_wins_over_text():
    assert normalize("(D) 8/11", "multi_choice", "text", CH, None) == "3/5"
    # a lower-case "a" is not read as option A ("3/11"): the closest text is "3/5" (distance 3, others 4)
    assert normalize("a", "multi_choice", "text", CH, None) == "3/5"


@pytest.mark.parametrize("response,answer,want", [
    ("14", "14", True),
    ("14.0", "14", True),             # int() fails; last number 14.0 -> int(float) = 14
    ("There are 14 cars.", "14", True),
    ("The answer is 14 apples, not 12.", "14", True),   # the number right after "the answer is"
    ("I count 12, then 14", "14", True),                # the last number
    ("1,400", "1400", True),
    ("-3", "-3", True),
    ("fourteen", "14", False),
    ("", "14", False),
])
def test_integer_pipeline(response, answer, want):
    assert score(response, "free_form", "integer", answer) is want


@pytest.mark.parametrize("response,answer,precision,want", [
    ("3.5", "3.5", 1.0, True),
    ("3.50", "3.5", 1.0, True),       # float() then round to one place
    ("3.46", "3.5", 1.0, True),
    ("3.44", "3.5", 1.0, False),
    ("$1.45", "1.45", 2.0, True),     # float() fails; the last number is 1.45
    ("1.5", "1.50", 2.0, False),      # str(round(1.5, 2)) = "1.5" != "1.50" (official quirk)
    ("The answer is 0.6.", "0.6", 1.0, True),
    ("7", "7.0", 1.0, True),          # float("7") = 7.0
])
def test_float_pipeline(response, answer, precision, want):
    assert score(response, "free_form", "float", answer, precision=precision) is want


@pytest.mark.parametrize("response,answer,want", [
    ("[2007, 2008]", "[2007, 2008]", True),
    ("Between [2007, 2008].", "[2007, 2008]", True),
    ("[2007,2008]", "[2007, 2008]", False),   # str(x) is compared as written
    ("2007 and 2008", "[2007, 2008]", False),
])
def test_list_pipeline(response, answer, want):
    assert score(response, "free_form", "list", answer) is want


def test_extraction_steps():
    assert exact_extract("14.0", "free_form", "integer", None) is None
    assert exact_extract("1e3", "free_form", "float", None) == "1000.0"
    assert exact_extract("B", "multi_choice", "text", CH) is None
    assert rule_extract("nothing here", "free_form", "integer", None) is None
    assert last_number("x = 3 and y = 4.25") == "4.25"


def test_normalize_unreadable_numbers_are_none():
    assert normalize("abc", "free_form", "integer", None, None) is None
    assert normalize("", "free_form", "float", None, 1.0) is None
    assert normalize("inf", "free_form", "integer", None, None) is None
    assert not is_correct(None, "14")


def test_is_correct_compares_stripped_strings():
    assert is_correct(" 3.5", "3.5 ") and not is_correct("3.5", "3.50")
