"""OCRBench: hub and original loaders, row-index ids, prompt snapshot, containment under both
protocols, the category breakdown out of 1000."""

from __future__ import annotations

import pytest
from _layouts import oracle_metrics, png, run_oracle, write_hub, write_json, write_png
from datasets import Features, Image, List, Value

from harness.config import load_group
from harness.demo.data import ensure_demo_data
from harness.errors import HarnessError, SampleError
from harness.tasks.ocrbench import CATEGORIES, RECOGNITION, OCRBench, slug

FEATS = Features(
    {
        "dataset": Value("string"),
        "question": Value("string"),
        "question_type": Value("string"),
        "answer": List(Value("string")),
        "image": Image(),
    }
)


def row(category, answers, source="IIIT5K", question="what is written in the image?"):
    return {
        "dataset": source,
        "question": question,
        "question_type": category,
        "answer": answers,
        "image": png(),
    }


def test_prompt_snapshot_and_config():
    task = OCRBench(load_group("task", "ocrbench"))
    assert task.version == "2" and task.protocols == ("lmms-eval", "official", "lmms-eval-0.2")
    assert (task.metric, task.max_value, task.generation().max_new_tokens) == ("score", 1000.0, 128)
    assert (
        task.prompt({"id": "0", "question": "what is written in the image?"})
        == "what is written in the image?"
    )
    assert (
        task.prompt({"id": "1", "question": " What is the total amount?\n"})
        == "What is the total amount?"
    )


def test_categories_are_the_official_ten():
    assert len(RECOGNITION) == 6 and sum(CATEGORIES[c] for c in RECOGNITION) == 300
    assert sum(CATEGORIES.values()) == 1000


def test_hub_rows_and_scoring(tmp_path):
    folder = write_hub(
        tmp_path / "OCRBench",
        {
            "default": {
                "test": [
                    row("Regular Text Recognition", ["CUMBERLAND"]),
                    row(
                        "Handwritten Mathematical Expression Recognition",
                        ["x ^ { 2 }"],
                        source="HME100k",
                    ),
                    row("Key Information Extraction", ["ＴＯＴＡＬ１２"], source="SROIE"),
                ]
            }
        },
        FEATS,
    )
    cfg = load_group("task", "ocrbench")
    cfg["dataset"]["path"] = str(folder)
    task = OCRBench(cfg)
    docs = task.docs()
    assert [d["id"] for d in docs] == ["0", "1", "2"]
    assert task.score(docs[0], "The word is cumberland") == {
        "answer": ["CUMBERLAND"],
        "score": 1.0,
        "category": "Regular Text Recognition",
        "source": "IIIT5K",
    }
    assert task.score(docs[1], "$x^{2}$")["score"] == 1.0
    assert task.score(docs[1], "X^{2}")["score"] == 0.0
    assert task.score(docs[2], "total12")["score"] == 1.0
    assert OCRBench({"protocol": "official"}).score(docs[2], "total12")["score"] == 0.0
    assert any("1000" in w for w in task.warnings)


def test_aggregate_breakdown_from_records():
    records = (
        [{"score": 1.0, "category": c} for c in RECOGNITION]
        + [{"score": 0.0, "category": RECOGNITION[0]}]
        + [
            {"score": 1.0, "category": "Scene Text-centric VQA"},
            {"score": 0.0, "category": "Doc-oriented VQA"},
            {"score": 1.0, "category": "Handwritten Mathematical Expression Recognition"},
        ]
    )
    out = OCRBench().aggregate(records)
    assert out["total"] == 8 and out["n"] == 10 and out["score"] == pytest.approx(800.0)
    assert out["text_recognition"] == 6 and out["text_recognition_n"] == 7
    assert out["regular_text_recognition"] == 1 and out["regular_text_recognition_n"] == 2
    assert (
        out["scene_text_centric_vqa"] == 1
        and out["doc_oriented_vqa"] == 0
        and out["doc_oriented_vqa_n"] == 1
    )
    assert out["key_information_extraction"] == 0 and out["key_information_extraction_n"] == 0
    assert out["handwritten_mathematical_expression_recognition"] == 1
    assert slug("Non-Semantic Text Recognition") == "non_semantic_text_recognition"


def test_full_benchmark_score_is_the_points_total():
    records = [
        {"score": float(k % 2), "category": c}
        for c, size in CATEGORIES.items()
        for k in range(size)
    ]
    out = OCRBench().aggregate(records)
    assert out["n"] == 1000 and out["total"] == 500 and out["score"] == 500.0
    assert out["text_recognition"] == 150 and out["key_information_extraction"] == 100


def test_malformed_rows_fail(tmp_path):
    folder = write_hub(
        tmp_path / "OCRBench",
        {
            "default": {
                "test": [
                    row("Regular Text Recognition", ["A"]),
                    row("Regular Text Recognition", []),
                    row("Regular Text Recognition", ["A"], question=None),
                ]
            }
        },
        FEATS,
    )
    records = run_oracle(
        OCRBench({"dataset": {"path": str(folder), "split": "test"}}), tmp_path / "run"
    )
    assert records[0]["score"] == 1.0
    assert "'answer' is not a non-empty list" in records[1]["failed"]
    assert "missing field 'question'" in records[2]["failed"]


def test_original_layout(tmp_path):
    root = tmp_path / "OCRBench"
    write_png(root / "OCRBench_Images" / "IIIT5K" / "1.jpg")
    write_png(root / "OCRBench_Images" / "HME100k" / "2.jpg")
    write_json(
        root / "OCRBench.json",
        [
            {
                "dataset_name": "IIIT5K",
                "id": 0,
                "image_path": "IIIT5K/1.jpg",
                "question": "what is written in the image?",
                "answers": "CUMBERLAND",
                "type": "Regular Text Recognition",
            },
            {
                "dataset_name": "HME100k",
                "id": 1,
                "image_path": "./HME100k/2.jpg",
                "question": "Write the formula.",
                "answers": ["a + b"],
                "type": "Handwritten Mathematical Expression Recognition",
            },
            {
                "dataset_name": "SROIE",
                "id": 2,
                "image_path": "SROIE/3.jpg",
                "question": "Total?",
                "answers": ["1"],
                "type": "Key Information Extraction",
            },
        ],
    )
    task = OCRBench({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["0", "1", "2"]
    assert task.reference(docs[0]) == "CUMBERLAND"  # a lone string answer is accepted
    assert task.score(docs[1], "a+b")["score"] == 1.0 and task.score(docs[1], "a+b")[
        "category"
    ].startswith("Hand")
    assert docs[1]["images"][0].load().size == (8, 8)
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[2])
    (root / "OCRBench.json").unlink()
    with pytest.raises(HarnessError, match="OCRBench.json"):
        OCRBench({"dataset": {"path": str(root), "format": "original"}}).docs()


def test_demo_set_covers_every_category_and_reaches_1000(tmp_path):
    folder = ensure_demo_data("ocrbench", tmp_path)
    for protocol in OCRBench.protocols:
        cfg = load_group("task", "ocrbench")
        cfg["dataset"].update(path=str(folder), demo=True)
        task = OCRBench(cfg | {"protocol": protocol})
        docs = task.docs()
        assert 20 <= len(docs) <= 50
        assert {d["question_type"] for d in docs} == set(CATEGORIES)
        assert "HME100k" in {d["dataset"] for d in docs}
        out = oracle_metrics(task)
        if task.protocol == "lmms-eval-0.2":  # the defect: a formula with a capital never matches
            capitals = [
                d
                for d in docs
                if d["dataset"] == "HME100k" and task.reference(d).lower() != task.reference(d)
            ]
            assert capitals and out["total"] == len(docs) - len(capitals)
            continue
        assert out["score"] == 1000.0 and out["total"] == len(docs)
        assert all(out[slug(c)] == out[f"{slug(c)}_n"] > 0 for c in CATEGORIES)


OCR_EDGES = [  # prediction, answers, source, lmms-eval (today's main), lmms-eval-0.2, official
    ("\\Delta x", ["\\Delta x"], "HME100k", 1.0, 0.0, 1.0),  # v0.2 lowercases the prediction first
    ("\\Delta x", ["\\delta x"], "HME100k", 0.0, 1.0, 0.0),  # ... which also makes this one match
    ("ｘ^2", ["x^2"], "HME100k", 0.0, 0.0, 0.0),  # no folding in the formula branch
    ("ＴＯＴＡＬ　１２．５０", ["total 12.50"], "SROIE", 1.0, 0.0, 0.0),
    ("  The total is 12.50\n", ["TOTAL IS 12.50"], "SROIE", 1.0, 1.0, 1.0),
    ("x ^ { 2 }", ["x^{2}"], "HME100k", 1.0, 1.0, 1.0),
]


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "official"])
def test_protocol_scores_on_edge_cases(protocol):
    task = OCRBench({"protocol": protocol})
    column = {"lmms-eval": 3, "lmms-eval-0.2": 4, "official": 5}[protocol]
    docs = [
        {"id": str(i), "answer": a, "dataset": s, "question_type": "Doc-oriented VQA"}
        for i, (_, a, s, *_) in enumerate(OCR_EDGES)
    ]
    assert [task.score(d, case[0])["score"] for d, case in zip(docs, OCR_EDGES)] == [
        case[column] for case in OCR_EDGES
    ]
