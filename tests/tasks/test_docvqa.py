"""DocVQA: hub and original loaders, prompt snapshot, ANLS scoring, malformed records."""

from __future__ import annotations

import pytest
from _layouts import CORRUPT, oracle_metrics, png, run_oracle, write_hub, write_json, write_png
from datasets import Features, Image, List, Value

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.errors import HarnessError, SampleError
from harness.tasks.docvqa import DocVQA

FEATS = Features(
    {
        "questionId": Value("string"),
        "question": Value("string"),
        "question_types": List(Value("string")),
        "image": Image(),
        "docId": Value("int64"),
        "ucsf_document_id": Value("string"),
        "ucsf_document_page_no": Value("string"),
        "answers": List(Value("string")),
        "data_split": Value("string"),
    }
)


def row(qid, question="What is the date?", answers=("1 May",), image="png", doc_id=7):
    return {
        "questionId": qid,
        "question": question,
        "question_types": ["form"],
        "image": png() if image == "png" else image,
        "docId": doc_id,
        "ucsf_document_id": "x",
        "ucsf_document_page_no": "1",
        "answers": None if answers is None else list(answers),
        "data_split": "val",
    }


def hub_task(tmp_path, rows, **ds):
    folder = write_hub(tmp_path / "DocVQA", {"DocVQA": {"validation": rows}}, FEATS)
    return DocVQA({"dataset": {"path": str(folder), "name": "DocVQA", "split": "validation", **ds}})


def test_prompt_snapshot():
    """Frozen prompt text; changing it means bumping DocVQA.version."""
    task = DocVQA()
    assert task.version == "3"
    assert task.prompt({"id": "1", "question": "What is the date on the invoice?"}) == (
        "What is the date on the invoice?\nAnswer the question using a single word or phrase."
    )
    assert task.prompt({"id": "2", "question": "Who signed the letter ?"}) == (
        "Who signed the letter ?\nAnswer the question using a single word or phrase."
    )


def test_config_yaml():
    cfg = load_group("task", "docvqa")
    task = DocVQA(cfg)
    ds = task.dataset
    assert (ds["path"], ds["name"], ds["split"]) == ("lmms-lab/DocVQA", "DocVQA", "validation")
    assert task.generation().max_new_tokens == 32 and task.protocol == "lmms-eval"


def test_hub_ids_image_keys_and_size_warning(tmp_path):
    task = hub_task(tmp_path, [row("101", doc_id=7), row("102", doc_id=7), row("103", doc_id=8)])
    docs = task.docs()
    assert [d["id"] for d in docs] == ["101", "102", "103"]
    assert [d["images"][0].key for d in docs] == ["7", "7", "8"]
    assert docs[0]["images"][0].image is None and docs[0]["images"][0].data  # bytes, not decoded
    assert docs[0]["images"][0].load().size == (8, 8)
    assert any("3 samples" in w and "5349" in w for w in task.warnings)
    demo = hub_task(tmp_path / "d", [row("101")], demo=True)
    demo.docs()
    assert demo.warnings == []


def test_score_is_anls():
    task = DocVQA()
    doc = {"id": "1", "answers": ["1 May", "May 1"]}
    assert task.score(doc, "1 may")["score"] == 1.0
    assert task.score(doc, "1 Mai")["score"] == pytest.approx(1 - 1 / 5)
    assert task.score(doc, "June")["score"] == 0.0
    assert task.aggregate([{"score": 1.0}, {"score": 0.5}]) == {"anls": 75.0}


def test_malformed_records_fail_with_their_reason(tmp_path):
    rows = [
        row("1"),
        row("2", question=None),
        row("3", answers=None),
        row("4", answers=[]),
        row("5", image=None),
        row("6", image=CORRUPT),
    ]
    task = hub_task(tmp_path, rows)
    docs = task.docs()
    for doc, message in zip(
        docs[1:5],
        [
            "missing field 'question'",
            "'answers' is not a non-empty list",
            "'answers' is not a non-empty list",
            "record has no image",
        ],
    ):
        with pytest.raises(SampleError, match=message):
            task.build_request(doc)
    with pytest.raises(SampleError, match="image failed to decode"):
        docs[5]["images"][0].load()
    records = run_oracle(task, tmp_path / "run")
    assert records[0]["score"] == 1.0 and records[0].get("failed") is None
    assert "question" in records[1]["failed"] and "answers" in records[2]["failed"]
    assert "image" in records[4]["failed"]


def test_wrong_hub_folder_or_schema(tmp_path):
    with pytest.raises(HarnessError, match="not found"):
        DocVQA({"dataset": {"path": str(tmp_path / "nowhere"), "name": "DocVQA"}}).docs()
    feats = Features({k: v for k, v in FEATS.items() if k != "answers"})
    no_answers = {k: v for k, v in row("1").items() if k != "answers"}
    folder = write_hub(tmp_path / "bad", {"DocVQA": {"validation": [no_answers]}}, feats)
    with pytest.raises(HarnessError, match="lacks column.*answers"):
        DocVQA({"dataset": {"path": str(folder), "name": "DocVQA", "split": "validation"}}).docs()
    with pytest.raises(HarnessError, match="InfographicVQA"):
        hub_task(tmp_path / "c", [row("1")], name="InfographicVQA").docs()


def test_original_layout(tmp_path):
    root = tmp_path / "val"
    write_png(root / "documents" / "a.png")
    write_png(root / "documents" / "b.png")
    data = [
        {
            "questionId": 49153,
            "question": "What is the total?",
            "answers": ["$5"],
            "image": "documents/a.png",
        },
        {"questionId": 49154, "question": "Who?", "answers": ["Ann"], "image": "documents/a.png"},
        {
            "questionId": 49155,
            "question": "When?",
            "answers": ["today"],
            "image": "documents/b.png",
        },
    ]
    write_json(
        root / "val_v1.0.json", {"dataset_name": "docvqa", "dataset_split": "val", "data": data}
    )
    task = DocVQA({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["49153", "49154", "49155"]
    assert docs[0]["images"][0].key == docs[1]["images"][0].key == "documents/a.png"
    prompt = task.build_request(docs[0]).prompt
    assert prompt == "What is the total?\nAnswer the question using a single word or phrase."
    assert oracle_metrics(task) == {"anls": 100.0}


def test_original_layout_errors(tmp_path):
    root = tmp_path / "val"
    with pytest.raises(HarnessError, match="release folder not found"):
        DocVQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    root.mkdir()
    with pytest.raises(HarnessError, match="val_v1.0.json"):
        DocVQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    data = [
        {"questionId": 1, "question": "Q?", "answers": ["a"], "image": "documents/a.png"},
        {"questionId": 2, "question": "Q?", "answers": ["a"], "image": "documents/b.png"},
    ]
    write_json(root / "val_v1.0.json", {"data": data})
    with pytest.raises(HarnessError, match="none of the 2 image files exist"):
        DocVQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    write_png(root / "documents" / "a.png")
    task = DocVQA({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert any("1 of 2 image files are missing" in w for w in task.warnings)
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[1])
    write_json(root / "val_v1.0.json", [1, 2])
    with pytest.raises(HarnessError, match="no 'data' list"):
        DocVQA({"dataset": {"path": str(root), "format": "original"}}).docs()


def test_demo_set_reaches_the_maximum(tmp_path):
    cfg = load_group("task", "docvqa")
    cfg["dataset"] = demo_dataset("docvqa", tmp_path, cfg["dataset"])
    task = DocVQA(cfg)
    assert len(task.docs()) >= 20
    assert len({d["images"][0].key for d in task.docs()}) < len(
        task.docs()
    )  # several questions per page
    assert oracle_metrics(task) == {"anls": 100.0}


DOCVQA_EDGES = [  # prediction, answers, ANLS (lmms-eval today), v0.2.4's thresholded accuracy
    ("helo", ["hello", "world wide"], 1 - 1 / 5, 1.0),
    ("  helo\n", ["hello"], 1 - 1 / 5, 1.0),  # stripped first: the raw length is 4, not 7
    ("wrld wide", ["hello", "world wide"], 1 - 1 / 10, 1.0),
    ("ab", ["abcd"], 0.5, 1.0),  # 1 - 2/4 = 0.5 is kept
    ("a", ["abc"], 0.0, 0.0),  # 1 - 2/3 < 0.5
    ("Hello World", ["hello world", "x"], 1.0, 1.0),
]


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper"])
def test_protocol_scores_on_edge_cases(protocol):
    task = DocVQA({"protocol": protocol})
    column = 2 if protocol == "lmms-eval" else 3
    got = [
        task.score({"id": "q", "answers": answers}, pred)["score"]
        for pred, answers, *_ in DOCVQA_EDGES
    ]
    assert got == pytest.approx([case[column] for case in DOCVQA_EDGES])
    records = [{"id": str(i), "score": s} for i, s in enumerate(got)]
    expected = 100 * (0.8 + 0.8 + 0.9 + 0.5 + 1.0) / 6 if column == 2 else 100 * 5 / 6
    assert task.aggregate(records)["anls"] == pytest.approx(expected)
