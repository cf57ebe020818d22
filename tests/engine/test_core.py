"""run_task in-process: dataset order, batch-size invariance, failures, OOM, Ctrl-C and resume,
limit."""

from __future__ import annotations

import json
import logging

import pytest

from harness.engine import EngineSettings, Interrupted, run_task
from harness.engine.plan import size_key

from .fakes import FakeMLLM, ToyTask, answer_for


def _run(tmp_path, model=None, task=None, **kw):
    kw.setdefault("progress", False)
    return run_task(task or ToyTask(), model or FakeMLLM(), tmp_path, EngineSettings(**kw))


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_records_come_back_in_dataset_order_with_the_models_answers(tmp_path):
    model = FakeMLLM()
    res = _run(tmp_path, model, batch_size=4)
    assert [r["id"] for r in res.records] == [f"q{i}" for i in range(20)]
    for i, r in enumerate(res.records):
        assert r["prediction"] == answer_for(f"q{i}", f"a{i}")
        assert (
            r["score"] == float(r["prediction"] == f"a{i}")
            and r["prompt"] == f"Q: {'x' * (i % 7 + 1)}"
        )
    assert _lines(tmp_path / "predictions" / "toy.jsonl") == res.records
    assert (res.n_generated, res.n_resumed, res.n_failed) == (20, 0, 0)
    # the model saw batches of at most 4, heaviest first (64x64 images before 32x16 before 8x8)
    assert max(len(c) for c in model.calls) == 4 and sum(len(c) for c in model.calls) == 20
    docs = ToyTask().docs()
    keys = [size_key(ToyTask().build_request(docs[int(c[0][1:])])) for c in model.calls]
    assert keys == sorted(keys, reverse=True)


@pytest.mark.parametrize("batch_size", [1, 3, 16, 64])
def test_batch_size_does_not_change_any_record(tmp_path, batch_size):
    base = _run(tmp_path / "b1", batch_size=1).records
    assert _run(tmp_path / "bn", batch_size=batch_size).records == base


def test_failures_in_build_in_workers_and_in_the_model_are_per_sample(tmp_path):
    task = ToyTask(bad=("q3",), corrupt=("q5",))
    model = FakeMLLM(fail=("q7",), batch_errors=("q11",))
    res = _run(tmp_path, model, task, batch_size=4, num_workers=2)
    by_id = {r["id"]: r for r in res.records}
    digest = by_id["q3"].pop("digest")
    assert by_id["q3"] == {
        "id": "q3",
        "prompt": None,
        "prediction": None,
        "answer": "a3",
        "score": 0.0,  # scored as an empty answer
        "failed": "record q3 is missing field 'question'",
    }
    assert len(digest) == 12 and digest != by_id["q4"]["digest"]
    assert "decode" in by_id["q5"]["failed"] and by_id["q5"]["prompt"] == "Q: xxxxxx"
    assert by_id["q7"]["failed"] == "preprocessing failed for q7"
    assert by_id["q11"]["failed"] == "a sample of this batch broke the model"
    assert res.n_failed == 4 and res.n_generated == 16
    ok = [r for r in res.records if r["id"] not in {"q3", "q5", "q7", "q11"}]
    assert all(r["prediction"] == answer_for(r["id"], "a" + r["id"][1:]) for r in ok)
    # q11's batch-mates were answered after the model was asked again without it
    assert [r["id"] for r in res.records] == [f"q{i}" for i in range(20)]


def test_out_of_memory_halves_the_batch_and_loses_nothing(tmp_path, caplog):
    model = FakeMLLM(max_fit=5)
    with caplog.at_level(logging.INFO, logger="harness.engine"):
        res = _run(tmp_path, model, batch_size="auto")
    assert res.timings["batch_size"] == 4 and model.batch_size == 4  # 16 -> 8 -> 4
    assert res.records == _run(tmp_path / "ref", batch_size=1).records
    assert "ran out of memory; continuing with batch size 8" in caplog.text


def test_ctrl_c_stops_after_the_batch_and_the_rerun_completes_identically(tmp_path):
    ref = _run(tmp_path / "ref", batch_size=4).records
    model = FakeMLLM(sigint_on_call=2)
    with pytest.raises(Interrupted, match=r"interrupted during toy: 8 of 20 samples are saved"):
        _run(tmp_path / "run", model, batch_size=4, num_workers=1)
    journal = _lines(tmp_path / "run" / "predictions" / "toy.jsonl")
    assert len(journal) == 8 and len({r["id"] for r in journal}) == 8
    again = FakeMLLM()
    res = _run(tmp_path / "run", again, batch_size=4, num_workers=1)
    assert res.records == ref and (res.n_resumed, res.n_generated) == (8, 12)
    assert sum(len(c) for c in again.calls) == 12
    assert {i for c in again.calls for i in c}.isdisjoint({r["id"] for r in journal})
    assert _lines(tmp_path / "run" / "predictions" / "toy.jsonl") == ref


def test_a_changed_resume_key_recomputes_and_keeps_the_old_file(tmp_path, caplog):
    _run(tmp_path, batch_size=8, resume_key={"generation": {"max_new_tokens": 16}})
    with caplog.at_level(logging.WARNING, logger="harness.engine"):
        res = _run(tmp_path, batch_size=8, resume_key={"generation": {"max_new_tokens": 32}})
    assert res.n_resumed == 0 and res.n_generated == 20
    assert "generation.max_new_tokens: 16 -> 32" in caplog.text
    old = list((tmp_path / "predictions" / "old").glob("*.toy.jsonl"))
    assert len(old) == 1 and len(old[0].read_text().splitlines()) == 20
    same = _run(tmp_path, batch_size=8, resume_key={"generation": {"max_new_tokens": 32}})
    assert same.n_resumed == 20 and same.n_generated == 0 and same.records == res.records


def test_limit_reuses_the_first_n_and_keeps_the_rest(tmp_path):
    full = _run(tmp_path, batch_size=8).records
    part = _run(tmp_path, batch_size=8, limit=5)
    assert part.records == full[:5] and part.n_resumed == 5 and part.n_generated == 0
    assert _lines(tmp_path / "predictions" / "toy.jsonl") == full[:5]
    assert _lines(tmp_path / "predictions" / "toy.extra.jsonl") == full[5:]
    again = _run(tmp_path, batch_size=8)
    assert again.records == full and again.n_resumed == 20
    assert not (tmp_path / "predictions" / "toy.extra.jsonl").exists()


def test_limit_first_then_full_computes_only_the_rest(tmp_path):
    model = FakeMLLM()
    _run(tmp_path, batch_size=8, limit=6)
    res = _run(tmp_path, model, batch_size=8)
    assert res.n_resumed == 6 and sum(len(c) for c in model.calls) == 14
    assert res.records == _run(tmp_path / "ref", batch_size=8).records


def test_oracle_and_other_plain_models_get_requests(tmp_path):
    from harness.models.oracle import OracleModel

    res = _run(tmp_path, OracleModel(), batch_size=7, num_workers=2)
    assert all(r["score"] == 1.0 for r in res.records) and res.timings["workers"] == 0


def test_interrupt_message_counts_failures_and_resumed_samples_once(tmp_path):
    task = ToyTask(bad=("q3",))
    _run(
        tmp_path, task=task, batch_size=4, limit=6
    )  # 5 generated + 1 failed, kept for the full run
    # workers hand over at least 8 samples (two model calls of 4): the stop comes after those 8
    with pytest.raises(Interrupted, match=r"interrupted during toy: 14 of 20 samples are saved"):
        _run(tmp_path, FakeMLLM(sigint_on_call=1), task, batch_size=4)
    res = _run(tmp_path, task=task, batch_size=4)
    assert (res.n_resumed, res.n_generated, res.n_failed) == (13, 6, 1)  # q3's failure is retried
    kept = _run(tmp_path, task=task, batch_size=4, retry_failed=False)
    assert (kept.n_resumed, kept.n_generated, kept.n_failed) == (20, 0, 1)
