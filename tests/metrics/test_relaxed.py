"""ChartQA relaxed accuracy and its number parser, against hand-worked cases."""

import math

import pytest

from harness.metrics.numbers import parse_float
from harness.metrics.relaxed import relaxed_correctness


def test_parse_float_is_pythons_float_plus_percent():
    assert parse_float("1e3") == 1000.0
    assert parse_float("1_000") == 1000.0  # Python's float accepts digit underscores
    assert parse_float("50%%") == 0.5  # every trailing % is stripped, divided once
    assert parse_float("45 %") == 0.45
    assert math.isnan(parse_float("nan"))
    for text in ("1,000", "$5", "%", "", "12 kg", "five"):
        assert parse_float(text) is None


@pytest.mark.parametrize(
    "pred, target, expected",
    [
        ("105", "100", 1.0),  # exactly 5 % off
        ("105.1", "100", 0.0),
        ("95", "100", 1.0),
        ("-96", "-100", 1.0),
        ("45%", "0.45", 1.0),  # the percent sign divides by 100 ...
        ("45", "45%", 0.0),  # ... on either side
        ("45%", "45%", 1.0),
        ("1,000", "1000", 0.0),  # no thousands separators: falls back to string equality
        ("$5", "5", 0.0),
        ("0", "0", 1.0),  # zero target: string equality
        ("0.0", "0", 0.0),
        ("0.01", "0", 0.0),
        (" 45", "45", 1.0),  # float() ignores surrounding whitespace
        ("YES", "Yes", 1.0),  # text: case-insensitive equality
        ("Yes ", "Yes", 0.0),  # ... not stripped
        ("nan", "5", 0.0),
    ],
)
def test_relaxed_correctness(pred, target, expected):
    assert relaxed_correctness(pred, target) == expected
