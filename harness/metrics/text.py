"""Text primitives shared by several metrics: edit distance, whitespace, punctuation, full-width forms."""
from __future__ import annotations

import string


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions each cost 1).

    >>> levenshtein("kitten", "sitting")
    3
    >>> levenshtein("", "abc")
    3
    """
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


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
