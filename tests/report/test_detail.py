"""Detailed per-benchmark tables: every breakdown, ± from the bootstrap interval, paper columns."""

from __future__ import annotations

import json

from harness.report.detail import build_detailed
from harness.report.stats import bootstrap_ci

from .runfolders import make_grid, md_blocks


def _rows(doc):
    [block] = md_blocks(doc.to_markdown())
    return block[0], {r[0]: r[1:] for r in block[1:]}


def test_one_table_per_benchmark_in_paper_order_with_every_breakdown(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    docs = build_detailed([grid]).docs
    assert [d.caption.split(" (")[0] for d in docs] == ["DocVQA", "POPE", "MME"]
    header, rows = _rows(docs[1])
    assert header == ["Metric", "CLIP-L (demo)", "UNIT-1B (demo)"]
    # CLIP: random split TP=3 (F1 100), popular split FP=1 TN=4 (F1 0, accuracy 80)
    assert rows["splits/random/f1"] == ["100.00", "66.67"]
    assert rows["splits/popular/f1"] == ["0.00", "0.00"]
    assert rows["splits/popular/accuracy"] == ["80.00", "100.00"]
    assert rows["precision"] == ["75.00", "100.00"] and rows["recall"] == ["100.00", "50.00"]
    assert rows["samples scored"] == ["8", "8"] and rows["samples failed"] == ["0", "0"]
    _, mme = _rows(docs[2])
    assert mme["subtasks/existence/acc"] == ["75.00"] and mme["subtasks/existence/acc_plus"] == [
        "50.00"
    ]
    assert mme["subtasks/count/score"] == ["200.00"] and mme["cognition"] == ["0.00"]


def test_plus_minus_is_half_the_stored_interval_or_bootstrapped(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    scores_path = grid / "demo_unit_1b" / "scores.json"
    scores = json.loads(scores_path.read_text())
    scores["docvqa"]["ci95"] = [70.0, 80.5]
    scores_path.write_text(json.dumps(scores))
    _, rows = _rows(build_detailed([grid]).docs[0])
    # CLIP-L has no stored interval: bootstrapped from its predictions (seed 0, 1000 resamples)
    recs = [
        json.loads(x)
        for x in (grid / "demo_clip_l" / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    lo, hi = bootstrap_ci("docvqa", recs)
    assert rows["DocVQA (anls, table)"] == [f"75.00 ± {(hi - lo) / 2:.2f}", "100.00 ± 5.25"]
    assert rows["samples failed"] == ["1", "0"]


def test_paper_columns_with_mme_perception_and_cognition(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    docs = build_detailed([grid], paper=True).docs
    header, rows = _rows(docs[2])
    assert header == [
        "Metric",
        "CLIP-L (demo)",
        "Paper CLIP-L",
        "Paper SigLIP",
        "Paper UNIT-600M",
        "Paper UNIT-1B",
    ]
    assert rows["MME (perception, table)"][1:] == [
        "1503.5981",
        "1489.3654",
        "1529.7589",
        "1531.9202",
    ]
    assert rows["cognition"][1:] == ["347.8571", "312.8571", "370.0", "333.2143"]
    _, doc_rows = _rows(docs[0])
    assert doc_rows["DocVQA (anls, table)"][2:] == ["57.19", "61.97", "65.49", "71.34"]
