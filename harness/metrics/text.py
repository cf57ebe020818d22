"""Text primitives shared by several metrics: edit distance and whitespace normalisation."""
from __future__ import annotations


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
