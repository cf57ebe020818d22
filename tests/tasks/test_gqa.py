"""GQA: the two-config hub join on imageId, the original layout, prompt snapshot, both protocols."""

from __future__ import annotations

import pytest
from _layouts import CORRUPT, oracle_metrics, png, run_oracle, write_hub, write_json, write_png
from datasets import Features, Image, Value

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.errors import HarnessError, SampleError
from harness.tasks.gqa import GQA

QFEATS = Features(
    {
        "id": Value("string"),
        "imageId": Value("string"),
        "question": Value("string"),
        "answer": Value("string"),
        "fullAnswer": Value("string"),
        "isBalanced": Value("bool"),
    }
)
IFEATS = Features({"id": Value("string"), "image": Image()})


def q(qid, image_id, question="What color is the car?", answer="red"):
    return {
        "id": qid,
        "imageId": image_id,
        "question": question,
        "answer": answer,
        "fullAnswer": f"The car is {answer}.",
        "isBalanced": True,
    }


def hub_task(tmp_path, questions, images, protocol=None, **ds):
    folder = write_hub(
        tmp_path / "GQA",
        {
            "testdev_balanced_instructions": {"testdev": questions},
            "testdev_balanced_images": {"testdev": images},
        },
        {"testdev_balanced_instructions": QFEATS, "testdev_balanced_images": IFEATS},
    )
    cfg = load_group("task", "gqa")
    cfg["dataset"].update(path=str(folder), **ds)
    if protocol:
        cfg["protocol"] = protocol
    return GQA(cfg)


def test_prompt_snapshot_and_config():
    task = GQA(load_group("task", "gqa"))
    assert task.version == "2" and task.protocols == ("lmms-eval", "llava", "lmms-eval-0.2")
    assert task.generation().max_new_tokens == 16
    assert task.prompt({"id": "1", "question": "Is the sky blue?"}) == (
        "Is the sky blue?\nAnswer the question using a single word or phrase."
    )
    assert task.prompt({"id": "2", "question": "Which side of the photo is the man on?"}) == (
        "Which side of the photo is the man on?\nAnswer the question using a single word or phrase."
    )


def test_join_shares_image_keys_without_decoding(tmp_path):
    images = [
        {"id": "n1", "image": png("red")},
        {"id": "n2", "image": png("blue")},
        {"id": "n3", "image": CORRUPT},
    ]
    questions = [q("201", "n2"), q("202", "n1"), q("203", "n2"), q("204", "n9"), q("205", "n3")]
    task = hub_task(tmp_path, questions, images)
    docs = task.docs()
    assert [d["id"] for d in docs] == ["201", "202", "203", "204", "205"]
    refs = [d["images"][0] for d in docs[:3]]
    assert [r.key for r in refs] == ["n2", "n1", "n2"]
    assert all(r.image is None and isinstance(r.data, bytes) for r in refs)  # still encoded
    # a question's document never holds its image's bytes: they are read from the images
    # config when needed (the plan keeps each document; ~30 questions share an image)
    assert not any(r.holds_payload for r in refs)
    assert refs[0].data == refs[2].data != refs[1].data
    assert refs[0].load().getpixel((0, 0)) == (0, 0, 255)
    with pytest.raises(SampleError, match="image 'n9' is not in config testdev_balanced_images"):
        task.build_request(docs[3])
    with pytest.raises(SampleError, match="failed to decode"):
        docs[4]["images"][0].load()
    empty = hub_task(tmp_path / "empty", [q("301", "n1")], [{"id": "n1", "image": None}])
    with pytest.raises(SampleError, match="record has no image"):
        empty.build_request(empty.docs()[0])
    assert any("12578" in w for w in task.warnings)


def test_missing_images_config_or_columns(tmp_path):
    with pytest.raises(HarnessError, match="no_such_images"):
        hub_task(
            tmp_path, [q("1", "n1")], [{"id": "n1", "image": png()}], images_name="no_such_images"
        ).docs()


@pytest.mark.parametrize(
    "prediction, lmms_eval, llava",
    [
        ("Red", 1.0, 1.0),
        (" red. ", 1.0, 1.0),
        ("red!", 1.0, 0.0),
        ("re-d", 1.0, 0.0),
        ("dark red", 0.0, 0.0),
    ],
)
def test_protocols(prediction, lmms_eval, llava):
    doc = {"id": "1", "answer": "red"}
    assert GQA().score(doc, prediction) == {"answer": "red", "score": lmms_eval}
    assert GQA({"protocol": "llava"}).score(doc, prediction)["score"] == llava
    with pytest.raises(HarnessError, match="unknown protocol"):
        GQA({"protocol": "vlmevalkit"})


def test_malformed_question_is_a_failed_sample(tmp_path):
    task = hub_task(
        tmp_path,
        [q("1", "n1"), q("2", "n1", question=None), q("3", "n1", answer=None)],
        [{"id": "n1", "image": png()}],
    )
    records = run_oracle(task, tmp_path / "run")
    assert records[0]["score"] == 1.0
    assert "missing field 'question'" in records[1]["failed"]
    assert "missing field 'answer'" in records[2]["failed"]


def test_original_layout(tmp_path):
    root = tmp_path / "gqa"
    write_png(root / "images" / "n161313.jpg")
    write_json(
        root / "testdev_balanced_questions.json",
        {
            "20968379": {
                "imageId": "n161313",
                "question": "Is it red?",
                "answer": "yes",
                "fullAnswer": "Yes, it is.",
            },
            "20968380": {"imageId": "n161313", "question": "What is it?", "answer": "t-shirt"},
            "20968381": {"imageId": "n000001", "question": "Where?", "answer": "left"},
        },
    )
    task = GQA({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["20968379", "20968380", "20968381"]
    assert docs[0]["images"][0].key == docs[1]["images"][0].key == "n161313"
    assert any("1 of 3 image files are missing" in w for w in task.warnings)
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[2])
    assert task.score(docs[1], "T-shirt.")["score"] == 1.0


def test_original_layout_errors(tmp_path):
    root = tmp_path / "gqa"
    root.mkdir()
    with pytest.raises(HarnessError, match="testdev_balanced_questions.json"):
        GQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    write_json(
        root / "testdev_balanced_questions.json",
        {"1": {"imageId": "n1", "question": "Q?", "answer": "a"}},
    )
    with pytest.raises(HarnessError, match="GQA images folder not found"):
        GQA({"dataset": {"path": str(root), "format": "original"}}).docs()
    write_json(root / "testdev_balanced_questions.json", [1])
    with pytest.raises(HarnessError, match="expected an object"):
        GQA({"dataset": {"path": str(root), "format": "original"}}).docs()


def test_demo_set_reaches_the_maximum(tmp_path):
    for protocol in GQA.protocols:
        cfg = load_group("task", "gqa")
        cfg["dataset"] = demo_dataset("gqa", tmp_path, cfg["dataset"])
        task = GQA(cfg | {"protocol": protocol})
        docs = task.docs()
        assert 20 <= len(docs) <= 50 and task.warnings == []
        assert len({d["images"][0].key for d in docs}) * 2 <= len(
            docs
        )  # several questions per image
        assert oracle_metrics(task) == {"exact_match": 100.0}


# Expected values worked by hand from lmms-eval's exact_match (v0.2.4 and today alike): the task
# layer strips the prediction; each side is a numpy string cell, lowercased in place, ASCII
# punctuation deleted, compared. LLaVA: strip, drop trailing periods, lowercase.
GQA_EDGES = [  # prediction, answer, lmms-eval (both versions), llava
    (" T-Shirt.", "t-shirt", 1.0, 1.0),  # "tshirt" == "tshirt"; llava "t-shirt"
    ("t shirt", "t-shirt", 0.0, 0.0),  # the space stays
    ("\u00a0Left\u2003", "left", 1.0, 1.0),  # str.strip removes Unicode spaces
    ("yes\x00", "yes", 1.0, 0.0),  # numpy drops trailing NULs
    ("İ", "i", 1.0, 0.0),  # "i̇" cut to the cell's one character
    ("no.", "No", 1.0, 1.0),
]


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper", "llava"])
def test_protocol_scores_on_edge_cases(protocol):
    task = GQA({"protocol": protocol})
    column = 3 if protocol == "llava" else 2
    got = [task.score({"id": "q", "answer": case[1]}, case[0])["score"] for case in GQA_EDGES]
    assert got == [case[column] for case in GQA_EDGES]
