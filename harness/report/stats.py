"""Bootstrap confidence intervals and paired tests over per-sample records, in table units.

A resample draws the task's *resample units* (``Task.resample_unit``: the sample, or MME's
image pair) with replacement and recomputes the task's own ``aggregate(records)[metric]``.
Three ways to compute a replicate, fastest first, each checked against ``aggregate`` on a few
resamples before use:

1. *features*: the task declares ``ci_features(unit_records) -> list[float]`` (sufficient
   statistics of one unit) and ``ci_metric(totals) -> array`` (the metric from their sums over
   a resample; vectorised over a leading axis). Fits POPE's F1 and MME's acc+.
2. *mean*: the metric is a constant times the mean of the records' ``score`` (checked, never
   assumed): vectorised with numpy.
3. *aggregate*: the task's ``aggregate`` on each resample (exact for any metric, slower:
   about 2.5 ms per resample per 1,000 records of a POPE-like aggregate).

A task may declare ``resample_stratum(record) -> str`` (MME: the subtask): units are then drawn
within each stratum, which keeps its size, as a metric summed over strata needs (a small MME
set resampled globally can lose whole subtasks). A unit drawn k times appears k times in the
resample; its copies have every field that equals the unit id suffixed ``#k``, other fields
(the sample id included) repeat.

Memory: resamples are drawn and evaluated in blocks of rows whose index array holds at most
``_BLOCK_BYTES`` (1 MiB; the vectorised paths' temporaries are a few times that), whatever the
number of units, instead of the whole resamples × units array at once (400 MB at 50,000 units).
The blocks consume the random stream exactly as one full draw would (numpy's ``integers``
takes its 32-bit draws from a buffer kept in the bit generator, so a call for k rows and then
one for m rows equals one call for k + m rows): same seed, same resamples, same interval.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from harness.errors import HarnessError
from harness.jsonl import Records
from harness.report import columns

_BLOCK_BYTES = 1 << 20  # int64 unit indices per block of resamples (rows × units × 8 bytes)
_CHECKS = 3  # resamples on which a fast path is checked against aggregate()


def is_failed(record: dict[str, Any]) -> bool:
    """A failed sample: ``prediction`` null or a ``failed`` reason.

    >>> is_failed({"prediction": None}), is_failed({"prediction": "x", "failed": "oom"})
    (True, True)
    """
    return record.get("prediction") is None or bool(record.get("failed"))


class Resamplable(Protocol):
    """What a bootstrap reads of a task (a :class:`tasks.base.Task` has it). Optional fast
    paths, looked up by name: ``ci_features``/``ci_metric`` and ``resample_stratum``."""

    @property
    def name(self) -> str: ...

    @property
    def metric(self) -> str: ...

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]: ...

    def resample_unit(self, record: dict[str, Any]) -> str: ...


TaskRef = str | Resamplable | type[Resamplable]
"""A task name, a Task class or a Task instance."""
Replicate = Callable[[np.ndarray], np.ndarray]
"""The metric on each row of a (resamples × units) array of unit indices."""


def _resolve(task: TaskRef) -> Resamplable:
    cls = columns.task_class(task) if isinstance(task, str) else task
    if cls is None:
        raise HarnessError(
            f"no task adapter for {task!r}: cannot recompute its metric from predictions"
        )
    return cls() if isinstance(cls, type) else cls


class Resampler:
    """One task's scored records grouped into resample units, with a fast replicate function."""

    def __init__(
        self, task: TaskRef, records: Sequence[dict[str, Any]], units: list[str] | None = None
    ):
        self.task = _resolve(task)
        self.metric = self.task.metric
        # units as positions into ``records``, read (decoded, for engine records) when used: a
        # task's records are not all held as dicts unless the slow aggregate path needs them
        self._records = Records.of(records)
        groups: dict[str, list[int]] = {}
        for i, r in enumerate(self._records):
            if not is_failed(r):
                groups.setdefault(str(self.task.resample_unit(r)), []).append(i)
        if not groups:
            raise HarnessError(f"{self.task.name}: no scored samples to resample")
        self.unit_ids = units if units is not None else list(groups)
        missing = [u for u in self.unit_ids if u not in groups]
        if missing:
            raise HarnessError(
                f"{self.task.name}: resample unit {missing[0]!r} has no scored sample"
            )
        self.members = [groups[u] for u in self.unit_ids]
        self._held: list[list[dict[str, Any]]] | None = None  # every unit's records, decoded
        self.strata = self._strata()
        self._copies: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.value = self._aggregate_all()
        self.path = "aggregate"
        self._fast: Replicate | None = None
        for name, make in (("features", self._features_path), ("mean", self._mean_path)):
            fast = make()
            if fast is not None:
                self.path, self._fast = name, fast
                break
        if self._fast is None:  # aggregate() on every resample: decode each record once
            self._held = [self.unit(u) for u in range(len(self.members))]

    @property
    def n_units(self) -> int:
        return len(self.members)

    def unit(self, u: int) -> list[dict[str, Any]]:
        """The records of unit ``u``."""
        if self._held is not None:
            return self._held[u]
        return list(self._records.take(self.members[u]))

    def _strata(self) -> list[np.ndarray]:
        """Unit indices per stratum (``Task.resample_stratum``, e.g. MME's subtask), else one
        stratum."""
        stratum = getattr(self.task, "resample_stratum", None)
        if stratum is None:
            return [np.arange(self.n_units)]
        groups: dict[str, list[int]] = {}
        for k, first in enumerate(self._records.take(m[0] for m in self.members)):
            groups.setdefault(str(stratum(first)), []).append(k)
        return [np.asarray(g) for g in groups.values()]

    def block_rows(self) -> int:
        """Resamples per block: as many rows of unit indices as fit in ``_BLOCK_BYTES``, at
        least one."""
        return max(1, _BLOCK_BYTES // (8 * self.n_units))

    def blocks(self, n_resamples: int, seed: int, rows: int | None = None) -> Iterator[np.ndarray]:
        """The rows of :meth:`draw` in consecutive blocks of at most ``rows`` resamples (default
        :meth:`block_rows`), drawn one block at a time: the same numbers as one full draw.

        Units are drawn with replacement within each stratum, so every stratum keeps its size
        (one stratum: a plain bootstrap of the units). The full draw takes each stratum's
        numbers for all resamples in turn; to give a block its share of each stratum's numbers,
        a first pass draws (and drops) each stratum's numbers block by block, keeping the
        generator's state where that stratum starts.
        """
        rows = rows or self.block_rows()
        n = self.n_units
        rng = np.random.default_rng(seed)
        if len(self.strata) == 1:
            for start in range(0, n_resamples, rows):
                yield rng.integers(0, n, size=(min(rows, n_resamples - start), n))
            return
        gens: list[np.random.Generator] = []
        for members in self.strata:
            gens.append(copy.deepcopy(rng))
            m = len(members)
            step = max(1, _BLOCK_BYTES // (8 * m))
            for start in range(0, n_resamples, step):
                rng.integers(0, m, size=(min(step, n_resamples - start), m))
        for start in range(0, n_resamples, rows):
            k = min(rows, n_resamples - start)
            idx = np.empty((k, n), dtype=np.int64)
            pos = 0
            for members, gen in zip(self.strata, gens):
                idx[:, pos : pos + len(members)] = members[
                    gen.integers(0, len(members), size=(k, len(members)))
                ]
                pos += len(members)
            yield idx

    def draw(self, n_resamples: int, seed: int) -> np.ndarray:
        """All resamples as rows of unit indices (resamples × units; for small checks:
        :meth:`bootstrap` never holds it whole)."""
        return _stack(list(self.blocks(n_resamples, seed)), (0, self.n_units), np.int64)

    def bootstrap(self, n_resamples: int, seed: int) -> np.ndarray:
        """The metric on ``n_resamples`` resamples drawn with ``seed``, drawn and evaluated one
        block at a time: memory bounded by the block, not by resamples × units."""
        return _stack([self.replicates(b) for b in self.blocks(n_resamples, seed)], (0,), float)

    # ---- replicate functions ---------------------------------------------------------
    def _aggregate(self, idx: Sequence[int] | np.ndarray, keep_copies: bool = True) -> float:
        drawn = [0] * self.n_units  # times each unit is drawn so far
        kept: list[str | dict[str, Any]] = []  # as the records are kept: read when aggregated
        for u in idx.tolist() if isinstance(idx, np.ndarray) else idx:  # ints, not numpy scalars
            k = drawn[u]
            drawn[u] = k + 1
            if k == 0:
                kept.extend(self._kept(u))
            elif keep_copies:
                kept.extend(self._copy(u, k))
            else:  # a one-off check: a copy kept as the record it copies is (a line: compact)
                kept.extend(
                    json.dumps(c, ensure_ascii=False) if isinstance(item, str) else c
                    for item, c in zip(self._kept(u), self._make_copy(u, k))
                )
        value = self.task.aggregate(Records(kept))[self.metric]
        return float(value) if value is not None else math.nan

    def _kept(self, u: int) -> list[str | dict[str, Any]]:
        """Unit ``u``'s records as kept (lines or dicts)."""
        if self._held is not None:
            return list(self._held[u])
        return self._records.kept(self.members[u])

    def _aggregate_all(self) -> float:
        """:meth:`_aggregate` of every unit once (no tally of draws: nothing is drawn twice)."""
        everything = self._records.take(i for m in self.members for i in m)
        value = self.task.aggregate(everything)[self.metric]
        return float(value) if value is not None else math.nan

    def _aggregate_once(self, idx: np.ndarray) -> float:
        """:meth:`_aggregate` without keeping its copies (a check, not the aggregate path's
        loop): memory of one resample's records as they are kept, not of several."""
        return self._aggregate(idx, keep_copies=False)

    def _copy(self, u: int, k: int) -> list[dict[str, Any]]:
        """:meth:`_make_copy`, kept for the next resample that draws unit ``u`` k+1 times."""
        key = (u, k)
        if key not in self._copies:
            self._copies[key] = self._make_copy(u, k)
        return self._copies[key]

    def _make_copy(self, u: int, k: int) -> list[dict[str, Any]]:
        """The k-th extra draw of unit ``u``: its records with every field equal to the unit id
        made distinct (``<unit>#k``), so an aggregate that groups by that field counts a unit
        drawn twice as two units, as the bootstrap requires. Other fields, the sample ``id``
        included, repeat: an aggregate grouping by anything else must count repeated sample ids
        as copies (as MME's tally does)."""
        uid = self.unit_ids[u]
        return [
            {f: (f"{v}#{k}" if isinstance(v, str) and v == uid else v) for f, v in r.items()}
            for r in self.unit(u)
        ]

    def _features_path(self) -> Replicate | None:
        features = getattr(self.task, "ci_features", None)
        metric = getattr(self.task, "ci_metric", None)
        if features is None or metric is None:
            return None
        first = list(features(self.unit(0)))
        feats = np.empty((self.n_units, len(first)), dtype=float)  # filled row by row: no
        feats[0] = first  # list of per-unit lists beside it
        for k in range(1, self.n_units):
            feats[k] = list(features(self.unit(k)))

        def fast(idx: np.ndarray) -> np.ndarray:
            return np.asarray(metric(_counts(idx, len(feats)) @ feats), dtype=float)

        if not self._agrees(fast):
            raise HarnessError(
                f"{self.task.name}: ci_features/ci_metric disagree with aggregate() "
                f"on resamples (a bug in the task's fast path)"
            )
        return fast

    def _mean_path(self) -> Replicate | None:
        try:
            sums = np.asarray(
                [sum(float(r["score"]) for r in self.unit(u)) for u in range(self.n_units)]
            )
        except (KeyError, TypeError, ValueError):
            return None
        sizes = np.asarray([len(m) for m in self.members], dtype=float)
        mean = sums.sum() / sizes.sum()
        if not np.isfinite(self.value) or (mean == 0 and self.value != 0):
            return None
        scale = self.value / mean if mean else 0.0

        def fast(idx: np.ndarray) -> np.ndarray:
            out: np.ndarray = scale * sums[idx].sum(axis=1) / sizes[idx].sum(axis=1)
            return out

        return fast if self._agrees(fast) else None

    def _agrees(self, fast: Replicate) -> bool:
        """``fast`` equals aggregate() on the full set, a few resamples and a few one-unit
        multisets (one unit drawn 4 times: catches what only small sets reveal)."""
        n = self.n_units
        single = np.random.default_rng(12345).choice(n, size=min(n, _CHECKS), replace=False)
        checks = [
            np.arange(n)[None, :],
            self.draw(_CHECKS, 12345),
            np.repeat(single[:, None], 4, axis=1),
        ]
        for idx in checks:
            full = idx.shape == (1, n)
            want = [self.value] if full else [self._aggregate_once(row) for row in idx]
            if not np.allclose(fast(idx), want, rtol=1e-9, atol=1e-9, equal_nan=True):
                return False
        return True

    def replicates(self, idx: np.ndarray) -> np.ndarray:
        """The metric on each row of unit indices ``idx`` (shape resamples × units), evaluated
        :meth:`block_rows` rows at a time (the fast paths' temporaries scale with the block)."""
        out = np.empty(len(idx))
        rows = self.block_rows()
        for start in range(0, len(idx), rows):
            block = idx[start : start + rows]
            out[start : start + rows] = (
                self._fast(block)
                if self._fast is not None
                else [self._aggregate(row) for row in block]
            )
        return out


def _stack(blocks: list[np.ndarray], empty: tuple[int, ...], dtype: type) -> np.ndarray:
    """The blocks one after the other (when there are none: empty, of shape ``empty``).

    >>> _stack([np.ones(2), np.zeros(1)], (0,), float).tolist()
    [1.0, 1.0, 0.0]
    >>> _stack([], (0, 3), np.int64).shape
    (0, 3)
    """
    return np.concatenate(blocks) if blocks else np.empty(empty, dtype=dtype)


def _counts(idx: np.ndarray, n_units: int) -> np.ndarray:
    """How often each unit is drawn in each resample (rows of ``idx``): shape resamples × units.

    >>> _counts(np.array([[0, 0, 2], [1, 2, 2]]), 3).tolist()
    [[2.0, 0.0, 1.0], [0.0, 1.0, 2.0]]
    """
    flat = (np.arange(len(idx))[:, None] * n_units + idx).ravel()
    return np.bincount(flat, minlength=len(idx) * n_units).reshape(len(idx), n_units).astype(float)


def _interval(reps: np.ndarray, level: float) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if not len(reps):
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def bootstrap_ci(
    task_name: TaskRef,
    records: Sequence[dict[str, Any]],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the task's table metric, in table units.

    ``task_name`` is a task name (or a Task class/instance); ``records`` are the lines of
    ``predictions/<task>.jsonl`` (failed samples are dropped). Same seed, same interval.
    """
    if not 0 < level < 1:
        raise HarnessError(f"confidence level must be in (0, 1), got {level}")
    rs = Resampler(task_name, records)
    return _interval(rs.bootstrap(n_resamples, seed), level)


def mcnemar_p(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts ``b`` and ``c``.

    >>> mcnemar_p(0, 0), round(mcnemar_p(1, 9), 4), round(mcnemar_p(5, 5), 4)
    (1.0, 0.0215, 1.0)
    """
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    term, tail = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    p: float = tail / 2 ** (n - 1)  # int ** int types as Any (a negative power is a float)
    return min(1.0, p)


def paired_compare(
    task_name: TaskRef,
    records_a: list[dict[str, Any]],
    records_b: list[dict[str, Any]],
    n_resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, Any]:
    """B − A on the samples both runs scored: difference, bootstrap interval and p-value.

    The p-value is exact McNemar when the metric is the mean of 0/1 per-sample scores with the
    sample as resample unit, else the paired bootstrap's (resampled differences centred on the
    observed one; the share as far from zero as observed, ``(k + 1) / (B + 1)``).
    """
    a = {r["id"]: r for r in records_a if not is_failed(r)}
    b = {r["id"]: r for r in records_b if not is_failed(r)}
    common = [i for i in a if i in b]
    if not common:
        raise HarnessError(f"{task_name}: the two runs share no scored sample ids")
    ra = Resampler(task_name, [a[i] for i in common])
    rb = Resampler(task_name, [b[i] for i in common], units=ra.unit_ids)
    # both runs evaluated on the same resamples, one block at a time
    blocks = ra.blocks(n_resamples, seed)
    diffs = _stack([rb.replicates(idx) - ra.replicates(idx) for idx in blocks], (0,), float)
    diff = rb.value - ra.value
    out: dict[str, Any] = {
        "a": ra.value,
        "b": rb.value,
        "diff": diff,
        "ci95": _interval(diffs, level),
        "n": len(common),
        "only_a": len(a) - len(common),
        "only_b": len(b) - len(common),
    }
    sa: list[Any] = [a[i].get("score") for i in common]
    sb: list[Any] = [b[i].get("score") for i in common]
    binary = all(s in (0, 1) for s in sa + sb) and ra.path == "mean" and ra.n_units == len(common)
    if binary:
        out["test"] = "McNemar (exact)"
        out["p"] = mcnemar_p(sum(x > y for x, y in zip(sa, sb)), sum(x < y for x, y in zip(sa, sb)))
    else:
        finite = diffs[np.isfinite(diffs)]
        extreme = int(np.sum(np.abs(finite - diff) >= abs(diff) - 1e-12))
        out["test"] = "paired bootstrap"
        out["p"] = (extreme + 1) / (len(finite) + 1)
    return out
