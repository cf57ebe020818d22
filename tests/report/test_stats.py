"""Bootstrap intervals and paired tests, against hand-worked resamples and a brute-force
reference."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.report.stats import Resampler, bootstrap_ci, mcnemar_p, paired_compare

from .runfolders import (
    FakeMME,
    FakeMMEStratified,
    FakePope,
    FakePopeFast,
    FakePopeWrongFast,
    docvqa_records,
    failed_record,
    install_fakes,
    mme_records,
    pope_records,
)


def _mixed_docvqa(n, seed=1):
    """n DocVQA records with ANLS scores in {0, partial, 1}."""
    rng = np.random.default_rng(seed)
    choice = rng.integers(0, 3, n)
    preds = {0: "zzzzzz", 1: "helo world", 2: "hello world"}
    return docvqa_records([(preds[int(c)], ["hello world"]) for c in choice])


def test_docvqa_uses_the_vectorised_mean_path_and_matches_brute_force():
    recs = _mixed_docvqa(300)
    rs = Resampler("docvqa", recs)
    assert rs.path == "mean"
    # reference: the same draws, the task's own aggregate on each resample, percentiles by hand
    idx = np.random.default_rng(7).integers(0, 300, size=(200, 300))
    task = rs.task
    ref = np.array([task.aggregate([recs[i] for i in row])["anls"] for row in idx])
    np.testing.assert_allclose(rs.replicates(idx), ref, rtol=1e-12)
    lo, hi = bootstrap_ci("docvqa", recs, n_resamples=200, seed=7)
    assert (lo, hi) == pytest.approx(tuple(np.quantile(ref, [0.025, 0.975])), rel=1e-12)


def test_two_samples_hand_worked_interval():
    # scores 0 and 1: a resample's mean is 0, 50 or 100 with probability 1/4, 1/2, 1/4,
    # so the 2.5% and 97.5% percentiles of 1000 resamples are 0 and 100
    recs = docvqa_records([("abc", ["abc"]), ("xyz", ["abc"])])
    assert bootstrap_ci("docvqa", recs) == (0.0, 100.0)


def test_interval_is_seeded_contains_the_value_and_drops_failed_samples():
    recs = _mixed_docvqa(200)
    value = Resampler("docvqa", recs).value
    a = bootstrap_ci("docvqa", recs, seed=3)
    assert a == bootstrap_ci("docvqa", recs, seed=3)
    assert a != bootstrap_ci("docvqa", recs, seed=4)
    assert a[0] < value < a[1]
    assert bootstrap_ci("docvqa", recs + [failed_record(0), failed_record(1)], seed=3) == a
    narrow = bootstrap_ci("docvqa", recs, level=0.5, seed=3)
    assert a[0] < narrow[0] < narrow[1] < a[1]


def test_perfect_scores_give_a_point_interval():
    recs = docvqa_records([("abc", ["abc"])] * 20)
    assert bootstrap_ci("docvqa", recs) == (100.0, 100.0)


def test_pope_f1_is_recomputed_per_resample(monkeypatch):
    install_fakes(monkeypatch)
    # 0: TP, 1: FP, 2: FN, 3: TN
    recs = pope_records(
        [
            ("yes", "yes", "random"),
            ("no", "yes", "random"),
            ("yes", "no", "popular"),
            ("no", "no", "popular"),
        ]
    )
    rs = Resampler("pope", recs)
    assert rs.path == "aggregate"  # F1 is not a mean of the per-sample scores
    # [0,0,1,2]: TP=2 FP=1 FN=1 -> P=R=2/3 -> F1=66.67;  [0,3,3,3]: TP=1 -> F1=100;
    # [1,2,3,3]: TP=0 -> 0
    got = rs.replicates(np.array([[0, 0, 1, 2], [0, 3, 3, 3], [1, 2, 3, 3]]))
    np.testing.assert_allclose(got, [200 / 3, 100.0, 0.0])


def test_a_declared_fast_path_agrees_with_aggregate(monkeypatch):
    install_fakes(monkeypatch, pope=FakePopeFast)
    rng = np.random.default_rng(0)
    rows = [
        (["yes", "no"][a], ["yes", "no"][b], "random") for a, b in rng.integers(0, 2, size=(500, 2))
    ]
    recs = pope_records(rows)
    fast = Resampler(FakePopeFast, recs)
    slow = Resampler(FakePope, recs)
    assert (fast.path, slow.path) == ("features", "aggregate")
    assert bootstrap_ci(FakePopeFast, recs, n_resamples=300) == pytest.approx(
        bootstrap_ci(FakePope, recs, n_resamples=300), rel=1e-12
    )


def test_a_wrong_fast_path_is_refused():
    recs = pope_records(
        [("yes", "yes", "r"), ("no", "yes", "r"), ("yes", "no", "r"), ("no", "no", "r")] * 5
    )
    with pytest.raises(HarnessError, match="disagree with aggregate"):
        Resampler(FakePopeWrongFast, recs)


def test_mme_resamples_image_pairs_and_counts_a_pair_drawn_twice_twice(monkeypatch):
    install_fakes(monkeypatch)
    # pair A: both right; pair B: one right; pair C: none right (all "existence")
    recs = mme_records(
        [
            ("existence", "A", 1),
            ("existence", "A", 1),
            ("existence", "B", 1),
            ("existence", "B", 0),
            ("existence", "C", 0),
            ("existence", "C", 0),
        ]
    )
    rs = Resampler("mme", recs)
    assert rs.unit_ids == ["A", "B", "C"] and [len(m) for m in rs.members] == [2, 2, 2]
    assert rs.value == pytest.approx(50 + 100 / 3)  # acc 3/6, acc+ 1/3
    # draw A, A, B: acc = 5/6, acc+ = 2/3 (A counted twice) -> 150; collapsing the copies would
    # give 133.33
    assert rs.replicates(np.array([[0, 0, 1]]))[0] == pytest.approx(150.0)


def test_strata_keep_every_subtask_in_every_resample():
    # one right pair per subtask (an oracle on a tiny MME set): perception = 2 x 200 = 400.
    # Resampled globally, half the resamples draw one subtask twice and lose the other (200);
    # resampled within subtasks, every resample is the data itself.
    recs = mme_records(
        [("existence", "A", 1), ("existence", "A", 1), ("count", "B", 1), ("count", "B", 1)]
    )
    assert bootstrap_ci(FakeMME, recs) == (200.0, 400.0)
    strat = Resampler(FakeMMEStratified, recs)
    assert [list(s) for s in strat.strata] == [[0], [1]]
    assert bootstrap_ci(FakeMMEStratified, recs) == (400.0, 400.0)
    # strata of several units keep their sizes: every row draws 2 existence and 1 count pair
    recs = mme_records(
        [
            ("existence", "A", 1),
            ("existence", "A", 1),
            ("count", "B", 1),
            ("count", "B", 1),
            ("existence", "C", 0),
            ("existence", "C", 1),
        ]
    )
    idx = Resampler(FakeMMEStratified, recs).draw(50, seed=0)
    assert all(sorted(int(u) in (0, 2) for u in row) == [False, True, True] for row in idx)


def test_mcnemar_exact_values():
    # b=1, c=9: p = 2 * (C(10,0) + C(10,1)) / 2**10 = 22/1024
    assert mcnemar_p(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_p(9, 1) == mcnemar_p(1, 9)
    assert mcnemar_p(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_p(3, 3) == 1.0
    assert 0 < mcnemar_p(5000, 5400) < 1e-4  # large counts stay exact and fast


def test_paired_compare_uses_mcnemar_for_binary_scores():
    answers = [f"a{i}" for i in range(20)]
    # A right on 0..9, B right on 1..18: b = 1 (sample 0), c = 9 (samples 10..18)
    a = docvqa_records([(x if i < 10 else "zzzz", [x]) for i, x in enumerate(answers)])
    b = docvqa_records([(x if 1 <= i <= 18 else "zzzz", [x]) for i, x in enumerate(answers)])
    res = paired_compare("docvqa", a, b)
    assert res["test"] == "McNemar (exact)"
    assert (res["a"], res["b"], res["diff"]) == pytest.approx((50.0, 90.0, 40.0))
    assert res["p"] == pytest.approx(22 / 1024)
    assert res["ci95"][0] > 0 and res["n"] == 20


def test_paired_compare_on_common_samples_and_bootstrap_p(monkeypatch):
    install_fakes(monkeypatch)
    rng = np.random.default_rng(5)
    truth = [["yes", "no"][x] for x in rng.integers(0, 2, 400)]
    good = pope_records(
        [(t, t if rng.random() < 0.9 else ("no" if t == "yes" else "yes"), "r") for t in truth]
    )
    bad = pope_records(
        [(t, t if rng.random() < 0.6 else ("no" if t == "yes" else "yes"), "r") for t in truth]
    )
    same = paired_compare("pope", good, good, n_resamples=200)
    assert same["test"] == "paired bootstrap"
    assert same["diff"] == 0 and same["ci95"] == (0.0, 0.0) and same["p"] == 1.0
    diff = paired_compare("pope", good, bad[:-10] + [failed_record(1)], n_resamples=200)
    assert diff["n"] == 390 and diff["only_a"] == 10 and diff["only_b"] == 0
    assert diff["diff"] < 0 and diff["ci95"][1] < 0 and diff["p"] == pytest.approx(1 / 201)


def test_no_task_class_or_no_samples_is_a_clear_error(monkeypatch):
    install_fakes(monkeypatch)
    with pytest.raises(HarnessError, match="no task adapter for 'gqa'"):
        bootstrap_ci("gqa", [{"id": "1", "prediction": "x", "score": 1}])
    with pytest.raises(HarnessError, match="no scored samples"):
        bootstrap_ci("docvqa", [failed_record(0)])
    with pytest.raises(HarnessError, match="share no scored sample"):
        paired_compare(
            "docvqa", docvqa_records([("a", ["a"])]), docvqa_records([("a", ["a"])], start=5)
        )


def test_real_pope_and_mme_declare_fast_paths_that_agree_with_their_aggregate():
    from harness.tasks import mme as mme_mod
    from harness.tasks import pope as pope_mod

    rng = np.random.default_rng(2)
    pope, mme = pope_mod.POPE(), mme_mod.MME()
    pope_recs = []
    for i in range(300):
        truth = ["yes", "no"][i % 2]
        doc = {"id": str(i), "answer": truth, "split": ["random", "popular", "adversarial"][i % 3]}
        pred = ["Yes", "No", "maybe"][int(rng.integers(0, 3))]
        pope_recs.append({"id": str(i), "prediction": pred, **pope.score(doc, pred)})
    mme_recs = []
    for i in range(240):
        doc = {
            "id": str(i),
            "answer": ["Yes", "No"][i % 2],
            "category": ["count", "OCR", "code_reasoning"][i // 2 % 3],
            "pair": f"img{i // 2}.jpg",
        }
        pred = ["Yes", "No"][int(rng.integers(0, 2))]
        mme_recs.append({"id": str(i), "prediction": pred, **mme.score(doc, pred)})

    class SlowPOPE(pope_mod.POPE):
        ci_features = None

    class SlowMME(mme_mod.MME):
        ci_features = None

    for task, slow, recs in (
        (pope_mod.POPE, SlowPOPE, pope_recs),
        (mme_mod.MME, SlowMME, mme_recs),
    ):
        assert Resampler(task, recs).path == "features"
        assert Resampler(slow, recs).path == "aggregate"
        assert bootstrap_ci(task, recs, n_resamples=200) == pytest.approx(
            bootstrap_ci(slow, recs, n_resamples=200)
        )
    assert Resampler(mme_mod.MME, mme_recs).n_units == 120  # image pairs


# ---- bounded blocks: the same resamples as one full draw, memory independent of the set size ---
def _full_draw(rs, n_resamples, seed):
    """The straightforward draw: the whole resamples × units array at once, stratum after
    stratum (the reference the blocks must reproduce number for number)."""
    rng = np.random.default_rng(seed)
    if len(rs.strata) == 1:
        return rng.integers(0, rs.n_units, size=(n_resamples, rs.n_units))
    idx = np.empty((n_resamples, rs.n_units), dtype=np.int64)
    pos = 0
    for members in rs.strata:
        idx[:, pos : pos + len(members)] = members[
            rng.integers(0, len(members), size=(n_resamples, len(members)))
        ]
        pos += len(members)
    return idx


def _stratified_mme(n_pairs, seed=0):
    """MME-like records: ``n_pairs`` image pairs over three subtasks of unequal sizes."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_pairs):
        cat = ("existence", "count", "code_reasoning")[min(2, p % 7 // 3)]
        rows += [(cat, f"img{p}", int(rng.integers(0, 2))), (cat, f"img{p}", 1)]
    return mme_records(rows)


@pytest.mark.parametrize("rows", [1, 3, 7, 64, 250])
def test_blocks_draw_the_same_numbers_as_one_full_draw(rows):
    plain = Resampler("docvqa", _mixed_docvqa(37))
    strat = Resampler(FakeMMEStratified, _stratified_mme(23))
    assert len(plain.strata) == 1 and [len(s) for s in strat.strata] == [11, 9, 3]
    for rs in (plain, strat):
        for seed in (0, 11):
            ref = _full_draw(rs, 250, seed)
            blocks = list(rs.blocks(250, seed, rows=rows))
            assert [len(b) for b in blocks[:-1]] == [rows] * (len(blocks) - 1)
            np.testing.assert_array_equal(np.concatenate(blocks), ref)
            np.testing.assert_array_equal(rs.draw(250, seed), ref)


def test_intervals_in_small_blocks_equal_the_full_draws(monkeypatch):
    from harness.report import stats
    from harness.tasks import pope as pope_mod

    install_fakes(monkeypatch)
    rng = np.random.default_rng(4)
    pope = pope_mod.POPE()
    pope_recs = []
    for i in range(120):
        doc = {"id": str(i), "answer": ["yes", "no"][i % 2], "split": "random"}
        pred = ["Yes", "No", "maybe"][int(rng.integers(0, 3))]
        pope_recs.append({"id": str(i), "prediction": pred, **pope.score(doc, pred)})
    docvqa = _mixed_docvqa(90)
    mme = _stratified_mme(40)
    # reference intervals and paired differences from one full draw, before blocks get small
    want = {}
    for task, recs in (("docvqa", docvqa), (pope_mod.POPE, pope_recs), (FakeMMEStratified, mme)):
        rs = Resampler(task, recs)
        want[rs.path] = (task, recs, stats._interval(rs.replicates(_full_draw(rs, 300, 5)), 0.95))
    assert set(want) == {"mean", "features", "aggregate"}
    worse = [dict(r, score=0.0) if i % 5 == 0 else r for i, r in enumerate(docvqa)]
    ra, rb = Resampler("docvqa", docvqa), Resampler("docvqa", worse)
    idx = _full_draw(ra, 300, 5)
    paired_want = stats._interval(rb.replicates(idx) - ra.replicates(idx), 0.9)
    # blocks of 2 resamples (the block budget shrunk to 2 rows of the largest set)
    monkeypatch.setattr(stats, "_BLOCK_BYTES", 2 * 8 * 120)
    assert Resampler(pope_mod.POPE, pope_recs).block_rows() == 2
    for path, (task, recs, interval) in want.items():
        assert bootstrap_ci(task, recs, n_resamples=300, seed=5) == interval, path
    # worse: a paired bootstrap (scores not all 0/1): its interval from the same resamples
    got = paired_compare("docvqa", docvqa, worse, n_resamples=300, seed=5, level=0.9)
    assert got["test"] == "paired bootstrap" and got["ci95"] == paired_want


def _traced_peak(fn):
    """Peak bytes numpy and Python allocate while ``fn`` runs (tracemalloc; numpy reports its
    buffers to it)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_bootstrap_memory_does_not_grow_with_resamples_times_rows():
    # 300 resamples of 50,000 units as one int64 array is 114 MiB (the float counts of the
    # features path as much again); drawn in 1 MiB blocks, the peak is what the units and one
    # checked resample need (about 5 MiB at 5,000 rows, 9-23 MiB at 50,000), never
    # resamples × rows
    from harness.tasks import pope as pope_mod

    pope = pope_mod.POPE()

    def pope_set(n):
        out = []
        for i in range(n):
            doc = {"id": str(i), "answer": ["yes", "no"][i % 2], "split": ("a", "b", "c")[i % 3]}
            pred = ["Yes", "No", "maybe"][i * 7 % 11 % 3]
            out.append({"id": str(i), "prediction": pred, **pope.score(doc, pred)})
        return out

    def docvqa_set(n):
        score = [0.0, 0.6, 1.0]
        return [
            {"id": f"q{i}", "prediction": "x", "score": score[i * 7 % 11 % 3]} for i in range(n)
        ]

    for task, make, path in ((pope_mod.POPE, pope_set, "features"), ("docvqa", docvqa_set, "mean")):
        small, large = make(5_000), make(50_000)
        assert Resampler(task, small).path == path
        peaks = [
            _traced_peak(lambda t=task, r=recs: bootstrap_ci(t, r, n_resamples=300))
            for recs in (small, large)
        ]
        assert peaks[0] < 8 * 2**20, (path, peaks)
        assert peaks[1] < 32 * 2**20, (path, peaks)
