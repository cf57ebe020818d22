"""Yes/no answer parsing, the three rules in use (POPE lmms-eval, POPE LLaVA, MME).

Each parser maps a model's free text to ``"yes"``, ``"no"`` or (where the rule has one)
``"other"``; an "other" answer is simply wrong.
"""

from __future__ import annotations

YES, NO, OTHER = "yes", "no", "other"


def exact_yes_no(text: str) -> str:
    """POPE as lmms-eval parses it: the whole answer, lowercased and stripped, must be
    exactly ``yes`` or ``no``; anything else is ``"other"``.

    >>> (exact_yes_no(" Yes "), exact_yes_no("NO"), exact_yes_no("Yes."),
    ...  exact_yes_no("yes, there is"))
    ('yes', 'no', 'other', 'other')
    """
    t = text.lower().strip()
    return t if t in (YES, NO) else OTHER


def llava_yes_no(text: str) -> str:
    """POPE as LLaVA's ``eval_pope.py`` parses it: keep the text before the first ``.``,
    drop commas, split on single spaces; ``no``, ``No`` or ``not`` among the words means
    "no", anything else (even an empty answer) "yes".

    >>> llava_yes_no("No, there is not."), llava_yes_no("There is not a dog."), llava_yes_no("Yes")
    ('no', 'no', 'yes')
    >>> llava_yes_no("NO"), llava_yes_no("Yes. No."), llava_yes_no("no,"), llava_yes_no("")
    ('yes', 'yes', 'no', 'yes')
    """
    if "." in text:
        text = text.split(".")[0]
    words = text.replace(",", "").split(" ")
    return NO if ("No" in words or "not" in words or "no" in words) else YES


def mme_yes_no(text: str) -> str:
    """MME's parse: lowercase, strip, delete every ``.``; exactly ``yes``/``no``; a single
    character ``y``/``n`` (any other single character is "other"); else ``yes`` contained in
    the first four characters → yes, else ``no`` contained there → no, else "other".

    >>> mme_yes_no("Yes."), mme_yes_no("N"), mme_yes_no("x"), mme_yes_no("none")
    ('yes', 'no', 'other', 'no')
    >>> mme_yes_no("Yes, it is."), mme_yes_no("I think no"), mme_yes_no("a no"), mme_yes_no("")
    ('yes', 'other', 'no', 'other')
    """
    t = text.lower().strip().replace(".", "")
    if t in (YES, NO):
        return t
    if len(t) == 1:
        return {"y": YES, "n": NO}.get(t, OTHER)
    head = t[:4]
    if YES in head:
        return YES
    if NO in head:
        return NO
    return OTHER


def ground_truth_yes_no(answer: object) -> str | None:
    """A dataset's yes/no label (``Yes``, ``no.``, ...) as ``"yes"``/``"no"``; ``None`` if it is
    neither.

    >>> ground_truth_yes_no("Yes"), ground_truth_yes_no(" no. "), ground_truth_yes_no("maybe")
    ('yes', 'no', None)
    """
    if not isinstance(answer, str):
        return None
    t = answer.lower().strip().replace(".", "")
    return t if t in (YES, NO) else None
