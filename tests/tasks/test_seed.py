"""SEED-Bench image part: hub loader skipping video rows, image lists, original SEED-Bench.json
layout, prompt snapshot, first-letter scoring on hand-worked predictions, per-type breakdown."""

from __future__ import annotations

import json

import pytest
from _layouts import png, run_oracle, write_hub, write_json, write_png

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.demo.sets.seed import features
from harness.engine import EngineSettings, run_task
from harness.errors import HarnessError, SampleError
from harness.metrics.seed import QUESTION_TYPES
from harness.models.replay import ReplayModel
from harness.tasks.seed import SEED


def row(qid, qtype=1, answer="A", data_type="image", images=1, question="What is in the image?"):
    return {
        "answer": answer,
        "choice_a": "a cat",
        "choice_b": "a dog",
        "choice_c": "a car",
        "choice_d": "a tree",
        "data_id": f"{qid}.jpg",
        "data_type": data_type,
        "question": question,
        "question_id": str(qid),
        "question_type_id": qtype,
        "image": [png() for _ in range(images)],
        "segment": None,
    }


def hub_task(tmp_path, rows, **ds):
    folder = write_hub(tmp_path / "SEED-Bench", {"default": {"test": rows}}, features())
    return SEED({"dataset": {"path": str(folder), "split": "test", **ds}})


def test_prompt_snapshot():
    """Frozen prompt text; changing it means bumping SEED.version."""
    assert SEED.version == "2"
    doc = {
        "id": "1",
        "question": "How many towels are in the image?",
        "choice_a": "One",
        "choice_b": "Two",
        "choice_c": "Three",
        "choice_d": "Four",
    }
    assert SEED().prompt(doc) == (
        "How many towels are in the image?\nA. One\nB. Two\nC. Three\nD. Four\n"
        "Answer with the option's letter from the given choices directly."
    )


def test_config_yaml():
    task = SEED(load_group("task", "seed"))
    assert (task.dataset["path"], task.dataset["split"]) == ("lmms-lab/SEED-Bench", "test")
    assert (
        task.metric == "accuracy" and task.generation().max_new_tokens == 1024
    )  # lmms-eval sets none


def test_video_rows_are_skipped_and_ids_kept(tmp_path):
    task = hub_task(
        tmp_path,
        [
            row(10, data_type="video", qtype=10, images=3),
            row(11, qtype=2),
            row(12, data_type="video", qtype=12, images=2),
            row(13, qtype=9, images=2),
        ],
    )
    docs = task.docs()
    assert [d["id"] for d in docs] == ["11", "13"]
    assert [d["_index"] for d in docs] == [1, 3]  # the hub row index (the replay alias)
    assert len(docs[0]["images"]) == 1 and len(docs[1]["images"]) == 2
    assert docs[0]["images"][0].image is None and docs[0]["images"][0].load().size == (8, 8)
    assert task.build_request(docs[0]).aliases == ("1",)


# (answer, prediction, right?)
QUIRKS = [
    ("B", "b", True),
    ("C", " C. a car", True),
    ("A", "(A)", False),
    ("A", "", False),
    ("A", "The answer is A", False),
    ("D", "Dog", True),
    ("B", "A", False),
]


def test_scores_on_quirky_answers_through_replay(tmp_path):
    rows = [row(i, qtype=1 + i % 2, answer=a) for i, (a, _, _) in enumerate(QUIRKS)]
    task = hub_task(tmp_path, rows)
    preds = tmp_path / "p.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"id": str(i), "prediction": p}) + "\n" for i, (_, p, _) in enumerate(QUIRKS)
        )
    )
    records = run_task(
        task, ReplayModel(preds), tmp_path / "run", EngineSettings(progress=False)
    ).records
    assert [r["score"] for r in records] == [float(ok) for _, _, ok in QUIRKS]
    m = task.aggregate(records)
    # type 1 (scene): rows 0, 2, 4, 6 -> right, wrong, wrong, wrong;
    # type 2 (identity): 1, 3, 5 -> right, wrong, right
    assert m["accuracy"] == pytest.approx(300 / 7)
    assert m["question_type/scene_understanding"] == 25.0
    assert m["question_type/instance_identity"] == pytest.approx(200 / 3)
    assert "question_type/text_recognition" not in m


def test_malformed_records(tmp_path):
    task = hub_task(
        tmp_path,
        [row(1, answer="E"), row(2, images=0), row(3, qtype=11), row(4, qtype=None), row(5)],
    )
    docs = task.docs()
    for doc, msg in zip(
        docs[:4], ("not an option letter", "no image", "not an image question type", "not a number")
    ):
        with pytest.raises(SampleError, match=msg):
            task.build_request(doc)
    assert task.build_request(docs[4]).id == docs[4]["id"] and task.reference(docs[4]) == "A"


def test_demo_oracle(tmp_path, cache_dir):
    cfg = load_group("task", "seed")
    cfg["dataset"] = demo_dataset("seed", cache_dir / "demo" / "data", cfg["dataset"])
    task = SEED(cfg)
    records = run_oracle(task, tmp_path)
    assert len(records) == 18 and not any(r.get("failed") for r in records)
    m = task.aggregate(records)
    assert m["accuracy"] == 100.0
    assert [k for k in m if k.startswith("question_type/")] == [
        f"question_type/{n}" for n in QUESTION_TYPES.values()
    ]


# ---- original release layout ---------------------------------------------------------------------
def write_release(root, images=True):
    qs = [dict(row(i, qtype=1 + i), data_id=f"img_{i}.jpg") for i in range(3)]
    qs.append(dict(row(99, qtype=10, data_type="video"), data_id="v.mp4"))
    for q in qs:
        del q["image"]
    write_json(
        root / "SEED-Bench.json", {"questions": qs, "question_type": {"Scene Understanding": 1}}
    )
    if images:
        for i in range(2):
            write_png(root / "SEED-Bench-image" / f"img_{i}.jpg")
    return root


def test_original_layout(tmp_path):
    root = write_release(tmp_path / "seed")
    task = SEED({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["0", "1", "2"]  # the video question is skipped
    assert docs[0]["images"][0].path.endswith("SEED-Bench-image/img_0.jpg")
    assert any("1 of 3 image files are missing" in w for w in task.warnings)
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[2])
    assert task.prompt(docs[0]).startswith("What is in the image?\nA. a cat\n")
    records = run_oracle(task, tmp_path / "run")
    assert task.aggregate([r for r in records if not r.get("failed")])["accuracy"] == 100.0


def test_original_layout_errors(tmp_path):
    with pytest.raises(HarnessError, match="SEED-Bench.json"):
        SEED({"dataset": {"path": str(tmp_path), "format": "original"}}).docs()
    with pytest.raises(HarnessError, match="image folder"):
        SEED(
            {
                "dataset": {
                    "path": str(write_release(tmp_path / "x", images=False)),
                    "format": "original",
                }
            }
        ).docs()
    write_json(tmp_path / "y" / "SEED-Bench.json", {"no_questions": []})
    with pytest.raises(HarnessError, match="questions"):
        SEED({"dataset": {"path": str(tmp_path / "y"), "format": "original"}}).docs()


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper"])
def test_protocol_scores_on_edge_cases(protocol):
    """Both versions: strip, keep the first character, compare lowercased with the answer."""
    task = SEED({"protocol": protocol})
    doc = {"id": "q", "answer": "B", "question_type_id": "1"}
    cases = {" b) a cat": 1.0, "\u3000B": 1.0, "(B)": 0.0, "Because": 1.0, "": 0.0, "A": 0.0}
    assert {p: task.score(doc, p)["score"] for p in cases} == cases
