"""MME: per-subtask acc and acc+ (over image pairs), perception and cognition sums.

For each subtask: acc = share of questions answered right, acc+ = share of images whose
questions (two per image) are all right, score = 100·acc + 100·acc+ (max 200).
Perception sums ten subtask scores (max 2000), cognition four (max 800).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported lazily at run time
    from numpy.typing import ArrayLike, NDArray

PERCEPTION = (
    "existence",
    "count",
    "position",
    "color",
    "posters",
    "celebrity",
    "scene",
    "landmark",
    "artwork",
    "OCR",
)
COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")
SUBTASKS = PERCEPTION + COGNITION


@dataclass
class SubtaskTally:
    questions: int = 0
    correct: int = 0
    images: int = 0
    images_correct: int = 0

    def as_list(self) -> list[int]:
        return [self.questions, self.correct, self.images, self.images_correct]


def tally(answers: Iterable[tuple[str, str, str, bool]]) -> dict[str, SubtaskTally]:
    """Tallies per subtask from ``(subtask, image key, sample id, correct)`` tuples.

    An image counts as right for acc+ when it has at least two questions and all are right
    (an image whose partner question failed cannot be right). Repeated sample ids in one
    image (a bootstrap resample drawing the pair twice) count as that many copies of the image.

    >>> t = tally([("count", "a.jpg", "0", True), ("count", "a.jpg", "1", True),
    ...            ("count", "b.jpg", "2", True), ("count", "b.jpg", "3", False)])
    >>> t["count"]
    SubtaskTally(questions=4, correct=3, images=2, images_correct=1)
    """
    groups: dict[tuple[str, str], list[tuple[str, bool]]] = {}
    for subtask, image, sid, ok in answers:
        groups.setdefault((subtask, image), []).append((sid, bool(ok)))
    out: dict[str, SubtaskTally] = {}
    for (subtask, _), items in groups.items():
        t = out.setdefault(subtask, SubtaskTally())
        copies = Counter(sid for sid, _ in items)
        k = min(copies.values())
        distinct = {sid: ok for sid, ok in items}
        t.questions += len(items)
        t.correct += sum(ok for _, ok in items)
        t.images += k
        t.images_correct += k if len(distinct) >= 2 and all(distinct.values()) else 0
    return out


def subtask_metrics(t: SubtaskTally) -> dict[str, float]:
    """acc and acc+ in percent and their sum, the subtask score.

    >>> subtask_metrics(SubtaskTally(questions=4, correct=3, images=2, images_correct=1))
    {'acc': 75.0, 'acc_plus': 50.0, 'score': 125.0}
    """
    acc = 100.0 * t.correct / t.questions if t.questions else 0.0
    acc_plus = 100.0 * t.images_correct / t.images if t.images else 0.0
    return {"acc": acc, "acc_plus": acc_plus, "score": acc + acc_plus}


def mme_metrics(tallies: dict[str, SubtaskTally]) -> dict[str, float]:
    """``perception``, ``cognition`` and ``<subtask>/{acc,acc_plus,score}`` for the subtasks
    present.

    >>> m = mme_metrics(
    ...     {"count": SubtaskTally(4, 3, 2, 1), "code_reasoning": SubtaskTally(2, 2, 1, 1)}
    ... )
    >>> m["perception"], m["cognition"], m["total"], m["count/acc_plus"]
    (125.0, 200.0, 325.0, 50.0)
    """
    out: dict[str, float] = {}
    sums = {"perception": 0.0, "cognition": 0.0}
    for name in SUBTASKS + tuple(sorted(set(tallies) - set(SUBTASKS))):
        if name not in tallies:
            continue
        m = subtask_metrics(tallies[name])
        for k, v in m.items():
            out[f"{name}/{k}"] = v
        if name in PERCEPTION:
            sums["perception"] += m["score"]
        elif name in COGNITION:
            sums["cognition"] += m["score"]
    return {**sums, "total": sums["perception"] + sums["cognition"], **out}


def tally_features(tallies: dict[str, SubtaskTally]) -> list[int]:
    """Tallies as one flat vector (4 numbers per subtask, in ``SUBTASKS`` order), so that the
    tallies of a set of images are the sum of their vectors (a vectorised bootstrap)."""
    empty = SubtaskTally()
    return [x for name in SUBTASKS for x in tallies.get(name, empty).as_list()]


def perception_from_features(
    totals: ArrayLike, group: tuple[str, ...] = PERCEPTION
) -> float | NDArray[Any]:
    """The ``group`` sum (perception by default) from summed :func:`tally_features` vectors;
    ``totals`` may have leading axes (numpy).

    >>> perception_from_features(tally_features({"count": SubtaskTally(4, 3, 2, 1)}))
    125.0
    """
    import numpy as np

    t = np.asarray(totals, dtype=float).reshape(np.shape(totals)[:-1] + (len(SUBTASKS), 4))
    q, c, i, ic = (t[..., k] for k in range(4))
    acc = np.divide(100.0 * c, q, out=np.zeros_like(q), where=q > 0)
    plus = np.divide(100.0 * ic, i, out=np.zeros_like(i), where=i > 0)
    mask = np.asarray([name in group for name in SUBTASKS])
    out = ((acc + plus) * mask).sum(axis=-1)
    return float(out) if out.ndim == 0 else out
