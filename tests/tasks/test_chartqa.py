"""ChartQA: hub and original loaders, row-index ids, prompt snapshot, relaxed accuracy with the
human / augmented breakdown."""

from __future__ import annotations

import pytest
from _layouts import oracle_metrics, png, run_oracle, write_hub, write_json, write_png
from datasets import Features, Image, Value

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.errors import HarnessError, SampleError
from harness.tasks.chartqa import ChartQA

FEATS = Features(
    {
        "type": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "image": Image(),
    }
)


def row(kind, answer, question="What is the value of Asia?"):
    return {"type": kind, "question": question, "answer": answer, "image": png()}


def hub_task(tmp_path, rows):
    folder = write_hub(tmp_path / "ChartQA", {"default": {"test": rows}}, FEATS)
    cfg = load_group("task", "chartqa")
    cfg["dataset"]["path"] = str(folder)
    return ChartQA(cfg)


def test_prompt_snapshot_and_config():
    task = ChartQA(load_group("task", "chartqa"))
    assert task.version == "2" and (task.dataset["split"], task.generation().max_new_tokens) == (
        "test",
        16,
    )
    assert task.prompt({"id": "0", "question": "How many bars are above 50?"}) == (
        "How many bars are above 50?\nAnswer the question with a single word."
    )


def test_row_index_ids_and_breakdown(tmp_path):
    task = hub_task(
        tmp_path,
        [
            row("human_test", "45"),
            row("human_test", "Yes"),
            row("augmented_test", "0"),
            row("augmented_test", "12.5%"),
        ],
    )
    docs = task.docs()
    assert [d["id"] for d in docs] == ["0", "1", "2", "3"]
    preds = ["47", "yes", "0.0", "0.125"]  # right, right, wrong (zero target: strings), right
    records = [task.score(d, p) for d, p in zip(docs, preds)]
    assert [r["score"] for r in records] == [1.0, 1.0, 0.0, 1.0]
    assert [r["type"] for r in records] == [
        "human_test",
        "human_test",
        "augmented_test",
        "augmented_test",
    ]
    assert task.aggregate(records) == {
        "relaxed_accuracy": 75.0,
        "human": 100.0,
        "n_human": 2,
        "augmented": 50.0,
        "n_augmented": 2,
    }
    assert any("2500" in w for w in task.warnings)


def test_aggregate_from_saved_records_alone():
    records = [
        {"id": "0", "score": 1.0, "type": "human_test"},
        {"id": "1", "score": 0.0, "type": "augmented_test"},
        {"id": "2", "score": 1.0, "type": "augmented_test"},
    ]
    out = ChartQA().aggregate(records)
    assert (
        out["relaxed_accuracy"] == pytest.approx(200 / 3)
        and out["human"] == 100.0
        and out["augmented"] == 50.0
    )
    assert "human" not in ChartQA().aggregate(records[1:])  # no human samples: no human score


def test_malformed_rows_fail(tmp_path):
    rows = [
        row("human_test", "5"),
        row("human_test", None),
        row("augmented_test", "5", question=None),
    ]
    task = hub_task(tmp_path, rows)
    records = run_oracle(task, tmp_path / "run")
    assert records[0]["score"] == 1.0
    assert (
        "missing field 'answer'" in records[1]["failed"]
        and "missing field 'question'" in records[2]["failed"]
    )


def test_original_layout(tmp_path):
    test = tmp_path / "ChartQA Dataset" / "test"
    for name in ("a.png", "b.png"):
        write_png(test / "png" / name)
    write_json(
        test / "test_human.json",
        [{"imgname": "a.png", "query": "Which is highest?", "label": "Asia"}],
    )
    write_json(
        test / "test_augmented.json",
        {
            "data": [
                {"imgname": "b.png", "query": "What is the value of Asia?", "label": "45"},
                {"imgname": "c.png", "query": "Missing chart?", "label": "1"},
                {"query": "No image name?", "label": "1"},
            ]
        },
    )
    for root in (tmp_path / "ChartQA Dataset", test):  # the release root or its test/ folder
        task = ChartQA({"dataset": {"path": str(root), "format": "original"}})
        docs = task.docs()
        assert [(d["id"], d.get("type")) for d in docs][:3] == [
            ("0", "human_test"),
            ("1", "augmented_test"),
            ("2", "augmented_test"),
        ]
        assert docs[0]["question"] == "Which is highest?" and docs[0]["answer"] == "Asia"
        assert docs[1]["images"][0].key == "b.png"
        prompt = task.build_request(docs[1]).prompt
        assert prompt == "What is the value of Asia?\nAnswer the question with a single word."
        with pytest.raises(SampleError, match="image file not found"):
            task.build_request(docs[2])
        with pytest.raises(SampleError, match="imgname"):
            task.build_request(docs[3])


def test_original_layout_errors(tmp_path):
    test = tmp_path / "test"
    (test / "png").mkdir(parents=True)
    with pytest.raises(HarnessError, match="test_human.json"):
        ChartQA({"dataset": {"path": str(tmp_path), "format": "original"}}).docs()
    write_json(test / "test_human.json", [])
    with pytest.raises(HarnessError, match="test_augmented.json"):
        ChartQA({"dataset": {"path": str(tmp_path), "format": "original"}}).docs()
    (test / "png").rmdir()
    with pytest.raises(HarnessError, match="chart folder not found"):
        ChartQA({"dataset": {"path": str(tmp_path), "format": "original"}}).docs()


def test_demo_set_reaches_the_maximum(tmp_path):
    cfg = load_group("task", "chartqa")
    cfg["dataset"] = demo_dataset("chartqa", tmp_path, cfg["dataset"])
    task = ChartQA(cfg)
    docs = task.docs()
    assert 20 <= len(docs) <= 50
    answers = [d["answer"] for d in docs]
    assert (
        "0" in answers
        and any(a.endswith("%") for a in answers)
        and "Yes" in answers
        or "No" in answers
    )
    out = oracle_metrics(task)
    assert (out["relaxed_accuracy"], out["human"], out["augmented"]) == (100.0, 100.0, 100.0)
    assert out["n_human"] > 0 and out["n_augmented"] > 0


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper"])
def test_protocol_scores_on_edge_cases(protocol):
    """The task layer strips first, then relaxed correctness (float parse, 5 %, else
    lowercase ==)."""
    task = ChartQA({"protocol": protocol})
    cases = [
        (" 12", "12", 1.0),
        (" 0", "0", 1.0),  # zero target: string compare of "0" and "0"
        (" Yes\n", "Yes", 1.0),
        ("0.0", "0", 0.0),
        ("12.6 ", "12", 1.0),
        ("12.61", "12", 0.0),  # 0.6 / 12 is 0.04999... in floats: kept
        ("0.45", "45%", 1.0),
    ]
    assert [
        task.score({"id": "0", "answer": a, "type": "human_test"}, p)["score"] for p, a, _ in cases
    ] == [expected for _, _, expected in cases]
