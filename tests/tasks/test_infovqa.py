"""InfographicVQA: DocVQA's protocol on the InfographicVQA config and original layout."""

from __future__ import annotations

import pytest
from _layouts import oracle_metrics, png, write_hub, write_json, write_png
from datasets import Features, Image, List, Value

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.errors import HarnessError
from harness.tasks.infovqa import InfoVQA

FEATS = Features(
    {
        "questionId": Value("string"),
        "question": Value("string"),
        "answers": List(Value("string")),
        "answer_type": List(Value("string")),
        "image": Image(),
        "image_url": Value("string"),
        "operation/reasoning": List(Value("string")),
        "ocr": Value("string"),
        "data_split": Value("string"),
    }
)


def row(qid, url, answers=("12%",)):
    return {
        "questionId": qid,
        "question": "What share?",
        "answers": list(answers),
        "answer_type": ["number"],
        "image": png(),
        "image_url": url,
        "operation/reasoning": [],
        "ocr": "",
        "data_split": "val",
    }


def test_prompt_snapshot_and_config():
    task = InfoVQA(load_group("task", "infovqa"))
    assert task.version == "2" and task.metric == "anls" and task.expected_size == 2801
    assert (task.dataset["path"], task.dataset["name"], task.dataset["split"]) == (
        "lmms-lab/DocVQA",
        "InfographicVQA",
        "validation",
    )
    assert task.generation().max_new_tokens == 32
    assert task.prompt({"id": "1", "question": "Which country has the highest share?"}) == (
        "Which country has the highest share?\nAnswer the question using a single word or phrase."
    )


def test_hub_config_ids_and_image_keys(tmp_path):
    folder = write_hub(
        tmp_path / "DocVQA",
        {
            "InfographicVQA": {
                "validation": [
                    row("65718", "http://x/1.jpg"),
                    row("65719", "http://x/1.jpg"),
                    row("65720", "http://x/2.jpg"),
                ]
            }
        },
        FEATS,
    )
    cfg = load_group("task", "infovqa")
    cfg["dataset"]["path"] = str(folder)
    task = InfoVQA(cfg)
    docs = task.docs()
    assert [d["id"] for d in docs] == ["65718", "65719", "65720"]
    assert [d["images"][0].key for d in docs] == [
        "http://x/1.jpg",
        "http://x/1.jpg",
        "http://x/2.jpg",
    ]
    assert task.score(docs[0], "12 %")["score"] == pytest.approx(
        1 - 1 / 4
    )  # one insertion over len("12 %")
    assert any("2801" in w for w in task.warnings)


def test_original_layout(tmp_path):
    root = tmp_path / "infographicsvqa"
    write_png(root / "infographicsvqa_images" / "10002.jpeg")
    write_json(
        root / "infographicsVQA_val_v1.0_withQT.json",
        {
            "dataset_split": "val",
            "data": [
                {
                    "questionId": 98313,
                    "question": "What share?",
                    "image_local_name": "10002.jpeg",
                    "answers": ["12%"],
                    "image_url": "https://x/10002.jpeg",
                    "answer_type": ["single span"],
                }
            ],
        },
    )
    task = InfoVQA({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert docs[0]["id"] == "98313" and docs[0]["images"][0].key == "10002.jpeg"
    assert oracle_metrics(task) == {"anls": 100.0}
    (root / "infographicsVQA_val_v1.0_withQT.json").unlink()
    with pytest.raises(HarnessError, match="infographicsVQA_val_v1.0_withQT.json"):
        InfoVQA({"dataset": {"path": str(root), "format": "original"}}).docs()


def test_demo_set_reaches_the_maximum(tmp_path):
    cfg = load_group("task", "infovqa")
    cfg["dataset"] = demo_dataset("infovqa", tmp_path, cfg["dataset"])
    task = InfoVQA(cfg)
    docs = task.docs()
    assert 20 <= len(docs) <= 50
    assert len({d["images"][0].key for d in docs}) * 2 <= len(docs)
    assert oracle_metrics(task) == {"anls": 100.0}


def test_protocol_scores_on_edge_cases():
    """DocVQA's two protocols: today ANLS; v0.2.4 1.0 when the best ANLS reaches 0.5."""
    doc = {"id": "q", "answers": ["12%", "twelve percent"]}
    today, paper = InfoVQA(), InfoVQA({"protocol": "paper"})
    assert paper.protocol == "lmms-eval-0.2"
    assert today.score(doc, " 12 % ")["score"] == pytest.approx(1 - 1 / 4)  # "12 %" vs "12%"
    assert paper.score(doc, " 12 % ")["score"] == 1.0
    assert today.score(doc, "1")["score"] == paper.score(doc, "1")["score"] == 0.0  # 1 - 2/3
