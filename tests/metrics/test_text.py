"""Text primitives, against hand-worked cases."""

from harness.metrics.text import (
    delete_ascii_punctuation,
    fold_fullwidth,
    levenshtein,
    squash_spaces,
)


def test_levenshtein_hand_cases():
    assert levenshtein("kitten", "sitting") == 3  # k->s, e->i, +g
    assert levenshtein("flaw", "lawn") == 2  # -f, +n
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("", "") == 0
    assert levenshtein("abc", "") == 3
    assert levenshtein("ab", "ba") == 2  # no transpositions


def test_squash_spaces():
    assert squash_spaces(" A\tB \n\n C ") == "a b c"
    assert squash_spaces("") == ""


def test_delete_ascii_punctuation_keeps_letters_and_non_ascii():
    assert delete_ascii_punctuation("t-shirt") == "tshirt"
    assert delete_ascii_punctuation("it's 5:30 p.m.!") == "its 530 pm"
    assert delete_ascii_punctuation("café—“x”") == "café—“x”"  # non-ASCII punctuation is kept


def test_fold_fullwidth_range_ends():
    assert fold_fullwidth("\uff01") == "!"  # first full-width form
    assert fold_fullwidth("\uff5e") == "~"  # last one
    assert fold_fullwidth("\u3000") == " "  # ideographic space
    assert fold_fullwidth("\uff00\uff5f") == "\uff00\uff5f"  # just outside the range: kept
    assert fold_fullwidth("Ｈｅｌｌｏ，　ｗｏｒｌｄ！") == "Hello, world!"
    assert fold_fullwidth("中文") == "中文"
