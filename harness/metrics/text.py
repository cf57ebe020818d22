"""Text primitives shared by several metrics: edit distance, whitespace, punctuation, full-width
forms."""

from __future__ import annotations

import string

from rapidfuzz.distance import Levenshtein


def levenshtein(a: str, b: str) -> int:
    """Edit distance over code points (insertions, deletions, substitutions each cost 1), by
    rapidfuzz's C++ Levenshtein (the pure-Python version it replaced lives on as the reference
    of the parity test, tests/metrics/test_anls.py).

    >>> levenshtein("kitten", "sitting")
    3
    >>> levenshtein("", "abc")
    3
    """
    return int(Levenshtein.distance(a, b))


def squash_spaces(s: str) -> str:
    """Lowercase, strip and collapse runs of whitespace to one space.

    >>> squash_spaces("  Hello \\n  World ")
    'hello world'
    """
    return " ".join(s.strip().lower().split())


_ASCII_PUNCT = str.maketrans("", "", string.punctuation)


def delete_ascii_punctuation(s: str) -> str:
    """Delete every ASCII punctuation character (``string.punctuation``); spaces are kept.

    >>> delete_ascii_punctuation("T-shirt, (red).")
    'Tshirt red'
    """
    return s.translate(_ASCII_PUNCT)


_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


def fold_fullwidth(s: str) -> str:
    """Full-width ASCII forms (U+FF01–U+FF5E) to their ASCII letters, the ideographic space
    (U+3000) to a plain space; everything else is kept.

    >>> fold_fullwidth("ＡＢＣ１２３\\u3000ｘ＋ｙ")
    'ABC123 x+y'
    """
    return s.translate(_FULLWIDTH)
