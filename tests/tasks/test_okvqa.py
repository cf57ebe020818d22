"""OK-VQA: hub and original (questions + annotations + COCO images) loaders, prompt snapshot,
soft accuracy under both protocols, the oracle's best answer."""

from __future__ import annotations

from collections import Counter

import pytest
from _layouts import oracle_metrics, png, run_oracle, write_hub, write_json, write_png
from datasets import Features, Image, List, Value

from harness.config import load_group
from harness.demo.data import ensure_demo_data
from harness.errors import HarnessError, SampleError
from harness.tasks.okvqa import OKVQA

FEATS = Features(
    {
        "question_id": Value("string"),
        "image": Image(),
        "question": Value("string"),
        "answers": List(Value("string")),
        "question_type": Value("string"),
        "answer_type": Value("string"),
    }
)


def row(qid, answers, question="What sport is this?"):
    return {
        "question_id": qid,
        "image": png(),
        "question": question,
        "answers": answers,
        "question_type": "other",
        "answer_type": "other",
    }


def hub_task(tmp_path, rows, protocol="lmms-eval"):
    folder = write_hub(tmp_path / "OK-VQA", {"default": {"val2014": rows}}, FEATS)
    cfg = load_group("task", "okvqa")
    cfg["dataset"]["path"] = str(folder)
    return OKVQA(cfg | {"protocol": protocol})


def test_prompt_snapshot_and_config():
    task = OKVQA(load_group("task", "okvqa"))
    assert task.version == "2" and task.protocols == ("lmms-eval", "official", "lmms-eval-0.2")
    assert (task.dataset["split"], task.generation().max_new_tokens) == (
        "val2014",
        1024,
    )  # lmms-eval sets none: its LLaVA default
    assert task.prompt({"id": "1", "question": "What sport can you use this for?"}) == (
        "What sport can you use this for?\n"
        "When the provided information is insufficient, respond with "
        "'Unanswerable'.\nAnswer the question using a single word or phrase."
    )


def test_hub_ids_scores_and_breakdown(tmp_path):
    tennis = ["tennis"] * 6 + ["racquetball"] * 2 + ["squash"] * 2
    task = hub_task(
        tmp_path, [row("2971475", tennis), row("2971476", ["Two"] * 4 + ["2"] * 2 + ["3"] * 4)]
    )
    docs = task.docs()
    assert [d["id"] for d in docs] == ["2971475", "2971476"]
    assert task.score(docs[0], "Tennis.")["score"] == 1.0
    assert task.score(docs[0], "squash")["score"] == pytest.approx(0.2 * (1 / 3) + 0.8 * (2 / 3))
    assert task.score(docs[1], "2")["score"] == 1.0  # 'Two' normalises to '2': six matches
    assert any("5046" in w for w in task.warnings)
    assert task.aggregate([{"score": 1.0}, {"score": 0.6}]) == {"vqa_accuracy": pytest.approx(80.0)}


def test_official_protocol_differs_on_unanimous_raw_answers(tmp_path):
    answers = ["Tennis"] * 10
    assert OKVQA().score({"id": "1", "answers": answers}, "tennis")["score"] == 1.0
    assert (
        OKVQA({"protocol": "official"}).score({"id": "1", "answers": answers}, "tennis")["score"]
        == 0.0
    )


def test_reference_is_the_best_scoring_answer():
    task = OKVQA()
    assert task.reference({"id": "1", "answers": ["cat"] * 3 + ["dog"] * 7}) == "dog"
    doc = {"id": "2", "answers": ["a dog"] * 2 + ["the dog"] * 2 + ["cat"] * 3 + ["bird"] * 3}
    best = task.reference(doc)
    assert (
        best in ("a dog", "the dog") and task.score(doc, best)["score"] == 1.0
    )  # 4 after normalising


def test_malformed_answers_are_failed_samples(tmp_path):
    task = hub_task(tmp_path, [row("1", ["x"] * 10), row("2", []), row("3", None)])
    records = run_oracle(task, tmp_path / "run")
    assert records[0]["score"] == 1.0
    assert "'answers' is not a non-empty list" in records[1]["failed"]
    assert "'answers' is not a non-empty list" in records[2]["failed"]


def test_original_layout(tmp_path):
    root = tmp_path / "okvqa"
    write_png(root / "val2014" / "COCO_val2014_000000297147.jpg")
    write_json(
        root / "OpenEnded_mscoco_val2014_questions.json",
        {
            "questions": [
                {"image_id": 297147, "question": "What sport?", "question_id": 2971475},
                {"image_id": 297147, "question": "Who plays it?", "question_id": 2971476},
                {"image_id": 1, "question": "What?", "question_id": 10},
                {"image_id": 297147, "question": "Orphan?", "question_id": 11},
            ]
        },
    )

    def ann(qid, ans):
        return {
            "question_id": qid,
            "image_id": 297147,
            "question_type": "other",
            "answer_type": "other",
            "answers": [
                {"answer": a, "raw_answer": a, "answer_confidence": "yes", "answer_id": k + 1}
                for k, a in enumerate(ans)
            ],
        }

    write_json(
        root / "mscoco_val2014_annotations.json",
        {
            "annotations": [
                ann(2971475, ["tennis"] * 10),
                ann(2971476, ["player"] * 4 + ["athlete"] * 6),
                ann(10, ["x"] * 10),
            ]
        },
    )
    task = OKVQA({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["2971475", "2971476", "10", "11"]
    assert docs[0]["answers"] == ["tennis"] * 10
    assert docs[0]["images"][0].key == docs[1]["images"][0].key == "297147"
    assert task.score(docs[1], "player")["score"] == 1.0
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[2])
    with pytest.raises(SampleError, match="no annotation"):
        task.build_request(docs[3])


def test_original_layout_errors(tmp_path):
    root = tmp_path / "okvqa"
    root.mkdir()
    with pytest.raises(HarnessError, match="OpenEnded_mscoco_val2014_questions.json"):
        OKVQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    write_json(root / "OpenEnded_mscoco_val2014_questions.json", {"questions": []})
    with pytest.raises(HarnessError, match="mscoco_val2014_annotations.json"):
        OKVQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    write_json(root / "mscoco_val2014_annotations.json", {"annotations": []})
    with pytest.raises(HarnessError, match="val2014 images folder not found"):
        OKVQA({"dataset": {"path": str(root), "format": "original"}}).docs()


def test_demo_set_reaches_the_maximum(tmp_path):
    folder = ensure_demo_data("okvqa", tmp_path)
    for protocol in OKVQA.protocols:
        cfg = load_group("task", "okvqa")
        cfg["dataset"].update(path=str(folder), demo=True)
        task = OKVQA(cfg | {"protocol": protocol})
        docs = task.docs()
        assert 20 <= len(docs) <= 50 and all(len(d["answers"]) == 10 for d in docs)
        assert (
            len({max(Counter(d["answers"]).values()) for d in docs}) >= 3
        )  # unanimous and split answers
        assert oracle_metrics(task) == {"vqa_accuracy": 100.0}


def test_protocol_scores_on_edge_cases():
    """Hand-worked VQA accuracy: mean over the answers of min(1, other matching answers / 3)."""
    doc = {"id": "q", "answers": ["x", "y", "y", "x"]}  # "x": 1/3, 2/3, 2/3, 1/3
    for protocol in ("lmms-eval", "lmms-eval-0.2", "paper"):
        task = OKVQA({"protocol": protocol})
        assert task.score(doc, "  x\n")["score"] == 0.5  # statistics.mean: exact, rounded once
        tens = {"id": "q", "answers": ["Two"] * 3 + ["2"] + ["three"] * 6}
        assert task.score(tens, " 2 ")["score"] == 1.0  # "two" -> "2" on the ground truths too
    official = OKVQA({"protocol": "official"})
    # the VQA tool: sum(accs) / n, summed left to right in floats
    assert official.score(doc, "  x\n")["score"] == (1 / 3 + 2 / 3 + 2 / 3 + 1 / 3) / 4 != 0.5
    # ground truths left as written: only the one "2" matches, 1/3 for the nine others, 0 for itself
    tens = {"id": "q", "answers": ["Two"] * 3 + ["2"] + ["three"] * 6}
    assert official.score(tens, "2")["score"] == pytest.approx(9 * (1 / 3) / 10)
