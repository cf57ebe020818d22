"""The prediction store: partial last line, key mismatch, rank parts, final order."""

from __future__ import annotations

import json
import logging

from harness.engine.store import PredictionStore, read_journal

KEY = {"model": {"model": "fake"}, "task": "toy", "generation": {"max_new_tokens": 16, "stop": []}}


def _rec(i):
    return {"id": f"q{i}", "prompt": "p", "prediction": str(i), "score": 1.0}


def _journal(folder, records, tail=b""):
    store = PredictionStore(folder, "toy", KEY)
    store.load()
    store.open()
    store.append(records)
    store.close()
    with open(store.main, "ab") as f:
        f.write(tail)
    return store


def test_a_partial_last_line_is_dropped_and_the_rest_kept(tmp_path, caplog):
    store = _journal(tmp_path, [_rec(0), _rec(1)], tail=b'{"id": "q2", "prompt": "p", "predic')
    recs, notes = read_journal(store.main)
    assert [r["id"] for r in recs] == ["q0", "q1"]
    assert notes == [f"{store.main}:3: partial last line (interrupted write) dropped"]
    with caplog.at_level(logging.WARNING, logger="harness.engine"):
        loaded = PredictionStore(tmp_path, "toy", KEY).load()
    assert list(loaded) == ["q0", "q1"] and "partial last line" in caplog.text
    # the journal is rewritten clean, so new appends start on their own line
    assert store.main.read_text() == "".join(json.dumps(_rec(i)) + "\n" for i in range(2))


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    store = _journal(tmp_path, [_rec(0)], tail=json.dumps(_rec(1)).encode())
    assert [r["id"] for r in read_journal(store.main)[0]] == ["q0", "q1"]


def test_an_unreadable_middle_line_is_dropped_and_named(tmp_path):
    path = tmp_path / "toy.jsonl"
    path.write_text(json.dumps(_rec(0)) + "\nnot json\n" + json.dumps(_rec(2)) + "\n")
    recs, notes = read_journal(path)
    assert [r["id"] for r in recs] == ["q0", "q2"] and notes == [
        f"{path}:2: unreadable line dropped"
    ]


def test_a_different_key_moves_the_old_files_aside(tmp_path):
    _journal(tmp_path, [_rec(0), _rec(1)])
    other = dict(KEY, generation={"max_new_tokens": 32, "stop": []})
    store = PredictionStore(tmp_path, "toy", other)
    assert store.load() == {}
    assert store.main.read_text() == ""
    assert json.loads(store.keyfile.read_text())["resume_key"] == other
    moved = sorted(p.name.split(".", 1)[1] for p in (tmp_path / "old").iterdir())
    assert moved == ["toy.jsonl", "toy.resume.json"]
    old = next((tmp_path / "old").glob("*.toy.jsonl"))
    assert [json.loads(x)["id"] for x in old.read_text().splitlines()] == ["q0", "q1"]


def test_predictions_without_a_recorded_key_are_not_trusted(tmp_path):
    (tmp_path / "toy.jsonl").write_text(json.dumps(_rec(0)) + "\n")
    assert PredictionStore(tmp_path, "toy", KEY).load() == {}
    assert (tmp_path / "old" / "unknown-key.toy.jsonl").is_file()


def test_same_key_reads_back_and_a_second_move_does_not_overwrite(tmp_path):
    _journal(tmp_path, [_rec(0)])
    assert list(PredictionStore(tmp_path, "toy", KEY).load()) == ["q0"]
    for n in (16, 32, 16):  # each switch moves the current file aside; none is overwritten
        PredictionStore(tmp_path, "toy", dict(KEY, generation={"max_new_tokens": n})).load()
    assert len(list((tmp_path / "old").glob("*.toy.jsonl"))) == 3


def test_rank_parts_are_merged_into_the_main_journal(tmp_path):
    _journal(tmp_path, [_rec(0)])
    part = PredictionStore(tmp_path, "toy", KEY, rank=1)
    part.open()
    part.append([_rec(1), _rec(0)])  # duplicates keep the first copy
    part.close()
    assert part.journal == tmp_path / "parts" / "toy.rank1.jsonl"
    loaded = PredictionStore(tmp_path, "toy", KEY).load()
    assert list(loaded) == ["q0", "q1"] and not part.journal.exists()
    assert [json.loads(x)["id"] for x in (tmp_path / "toy.jsonl").read_text().splitlines()] == [
        "q0",
        "q1",
    ]


def test_finalize_writes_dataset_order_and_keeps_extras(tmp_path):
    store = _journal(tmp_path, [_rec(2), _rec(0), _rec(1)])
    store.finalize([_rec(0), _rec(1)], [_rec(2)])
    assert [json.loads(x)["id"] for x in store.main.read_text().splitlines()] == ["q0", "q1"]
    assert [json.loads(x)["id"] for x in store.extra.read_text().splitlines()] == ["q2"]
    assert sorted(PredictionStore(tmp_path, "toy", KEY).load()) == ["q0", "q1", "q2"]
