"""VQA soft accuracy (OK-VQA) and the VQA/EvalAI answer normalisation.

Two protocols differ only in what is normalised:

* ``lmms-eval`` (default): the EvalAI answer processor on the prediction *and on every ground
  truth*, always. The processor: lowercase; delete ``,`` and ``?``; ``'s`` -> `` 's``; strip;
  newlines/tabs -> space; punctuation; number words and articles; contractions.
* ``official`` (the VQA evaluation tool): the prediction gets the punctuation and
  digit/article steps (no lowercasing before them, no comma/``?`` deletion); the ground truths
  get the punctuation step only, and only when they are not all identical.

Punctuation step, as the reference code does it (quirks kept on purpose): for each of
``; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? !``, if that character stands next to a space
anywhere in the text, or the text holds a digit-comma-digit, every occurrence is deleted,
otherwise every occurrence becomes a space; then periods not followed by a digit are deleted
(at most 32 of them: the reference passes ``re.UNICODE`` as the ``count`` argument).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

PUNCTUATION = (
    ";",
    "/",
    "[",
    "]",
    '"',
    "{",
    "}",
    "(",
    ")",
    "=",
    "+",
    "\\",
    "_",
    "-",
    ">",
    "<",
    "@",
    "`",
    ",",
    "?",
    "!",
)
_DIGIT_COMMA_DIGIT = re.compile(r"(\d)(,)(\d)")
# The reference pattern is "(?!<=\d)(\.)(?!\d)": its "(?!<=" is a look-*ahead* typo that always
# holds before a period, so it removes every period not followed by a digit.
_PERIOD = re.compile(r"\.(?!\d)")
_PERIOD_LIMIT = 32  # re.UNICODE == 32, passed positionally as re.sub's count by the reference
NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})

# Contracted forms the processor restores: each is reached from the spellings that miss exactly
# one of its apostrophes ("dont" -> "don't"; "couldnt've" and "couldn'tve" -> "couldn't've").
_CONTRACTED = """ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't
hadn't've hasn't haven't he'd he'd've he's how'd how'll how's isn't it'd it'd've it'll ma'am
mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't 'ow's'at shan't
she'd've should've shouldn't shouldn't've somebody'd've somebody'll somebody's someone'd
someone'd've someone'll someone's something'd something'd've something'll that's there'd
there'd've there're there's they'd they'd've they'll they're they've 'twas wasn't we'd've we've
weren't what'll what're what's what've when's where'd where's where've who'd who'd've who'll
who's who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll y'all'd've
you'd you'd've you'll you're you've""".split()


def _contractions() -> dict[str, str]:
    table = {}
    for word in _CONTRACTED:
        for i, ch in enumerate(word):
            if ch == "'":
                table[word[:i] + word[i + 1 :]] = word
    table["somebody'd"] = "somebodyd"  # the reference table's one inverted entry
    return table


CONTRACTIONS = _contractions()


def process_punctuation(text: str) -> str:
    """The VQA punctuation step (see the module docstring).

    >>> process_punctuation("t-shirt")          # no space next to '-': replaced by a space
    't shirt'
    >>> process_punctuation("red - blue")       # a space next to '-': deleted
    'red  blue'
    >>> process_punctuation("1,000 (approx.)")  # digit-comma-digit: all punctuation deleted
    '1000 approx'
    >>> process_punctuation("3.5 ft.")
    '3.5 ft'
    """
    out = text
    delete_all = _DIGIT_COMMA_DIGIT.search(text) is not None
    for p in PUNCTUATION:
        if delete_all or (p + " " in text or " " + p in text):
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD.sub("", out, count=_PERIOD_LIMIT)


def process_digit_article(text: str) -> str:
    """Lowercase, number words to digits, drop articles, restore contractions, single spaces.

    >>> process_digit_article("The Two  dogs dont")
    "2 dogs don't"
    """
    words = [NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in ARTICLES]
    return " ".join(CONTRACTIONS.get(w, w) for w in words)


def normalize_answer(text: str) -> str:
    """The EvalAI answer processor (lmms-eval's normalisation of predictions and ground truths).

    >>> normalize_answer("The Eiffel-Tower, in Paris?")
    'eiffel tower in paris'
    >>> normalize_answer("Two\\tcats.")
    '2 cats'
    """
    text = text.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def normalize_prediction_official(text: str) -> str:
    """The official VQA tool's processing of a prediction.

    >>> normalize_prediction_official(" A Dog!\\n")
    'dog'
    """
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return process_digit_article(process_punctuation(text))


def soft_accuracy(prediction: str, answers: Sequence[str], exact_mean: bool = False) -> float:
    """Mean over the ground truths i of ``min(1, #(other answers equal to prediction) / 3)``;
    no normalisation here. The official tool averages with ``sum(accs) / n`` (left-to-right
    float sums); lmms-eval with ``statistics.mean`` (exact, rounded once): ``exact_mean``.
    The two can differ in the last bit.

    >>> soft_accuracy("cat", ["cat"] * 2 + ["dog"] * 8)
    0.6
    >>> answers = ["x", "y", "y", "x"]
    >>> soft_accuracy("x", answers), soft_accuracy("x", answers, exact_mean=True)
    (0.49999999999999994, 0.5)
    """
    hits = sum(a == prediction for a in answers)
    accs = [min(1, (hits - (a == prediction)) / 3) for a in answers]
    return float(statistics.mean(accs)) if exact_mean else sum(accs) / len(accs)


def vqa_accuracy(prediction: str, answers: Sequence[str], protocol: str = "lmms-eval") -> float:
    """VQA soft accuracy of one prediction against its (ten) human answers.

    >>> vqa_accuracy("Two", ["2"] * 3 + ["two"] + ["3"] * 6)  # 4 answers match after normalising
    1.0
    >>> # 2 matches: 0.2*1/3 + 0.8*2/3
    >>> round(vqa_accuracy("dog", ["dog", "dog", "cat"] + ["bird"] * 7), 4)
    0.6
    >>> vqa_accuracy("Dog", ["Dog"] * 10, protocol="official")  # one answer: ground truths left raw
    0.0
    """
    if not answers:
        raise ValueError("vqa_accuracy: no ground-truth answers")
    if protocol in ("lmms-eval", "lmms-eval-0.2"):
        gts = [normalize_answer(a) for a in answers]
        return soft_accuracy(normalize_answer(prediction), gts, exact_mean=True)
    if protocol == "official":
        gts = list(answers)
        if len(set(gts)) > 1:
            gts = [process_punctuation(a) for a in gts]
        return soft_accuracy(normalize_prediction_official(prediction), gts)
    raise ValueError(f"vqa_accuracy: unknown protocol {protocol!r} (lmms-eval | official)")
