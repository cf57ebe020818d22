"""MME: hub and original (both folder styles) loaders, prompt snapshot, the MME parse and acc+
over image pairs on hand-worked predictions, resampling by pair, malformed records."""

from __future__ import annotations

import json

import pytest
from _layouts import oracle_metrics, png, run_oracle, write_hub, write_png

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.demo.sets.mme import features
from harness.engine import EngineSettings, run_task
from harness.errors import HarnessError, SampleError
from harness.metrics.mme import COGNITION, PERCEPTION
from harness.models.replay import ReplayModel
from harness.tasks.mme import MME

SUFFIX = "\nAnswer the question using a single word or phrase."


def row(
    qid,
    category,
    answer,
    question="Is there a train in this image? Please answer yes or no.",
    image="png",
):
    return {
        "question_id": qid,
        "image": png() if image == "png" else image,
        "question": question,
        "answer": answer,
        "category": category,
    }


def hub_task(tmp_path, rows, **ds):
    folder = write_hub(tmp_path / "MME", {"default": {"test": rows}}, features())
    return MME({"dataset": {"path": str(folder), "split": "test", **ds}})


def test_prompt_snapshot():
    """Frozen prompt text; changing it means bumping MME.version."""
    assert MME.version == "1"
    t = MME()
    assert (
        t.prompt(
            {"id": "0", "question": "Is there a train in this image? Please answer yes or no."}
        )
        == "Is there a train in this image?" + SUFFIX
    )
    assert (
        t.prompt(
            {
                "id": "1",
                "question": ' Is the word in the logo "high time"? Please answer yes or no.\n',
            }
        )
        == 'Is the word in the logo "high time"?' + SUFFIX
    )
    assert (
        t.prompt({"id": "2", "question": "Is this a photo of Big Ben?"})
        == "Is this a photo of Big Ben?" + SUFFIX
    )


def test_config_yaml():
    task = MME(load_group("task", "mme"))
    assert (task.dataset["path"], task.dataset["split"]) == ("lmms-lab/MME", "test")
    assert (
        task.metric == "perception"
        and task.max_value == 2000.0
        and task.generation().max_new_tokens == 16
    )


# (image key, subtask, truth, prediction)
QUIRKS = [
    ("existence/a.jpg", "existence", "Yes", "Yes."),  # yes: right
    ("existence/a.jpg", "existence", "No", "none"),  # "none" -> no: right
    ("existence/b.jpg", "existence", "Yes", "y"),  # single y -> yes: right
    ("existence/b.jpg", "existence", "No", "I don't know"),  # other: wrong
    ("code_reasoning/c.png", "code_reasoning", "Yes", "yesterday"),  # "yest" -> yes: right
    ("code_reasoning/c.png", "code_reasoning", "No", "Nope, it prints 6"),  # "nope" -> no: right
    ("OCR/d.jpg", "OCR", "Yes", "x"),  # single other character: wrong
    ("OCR/d.jpg", "OCR", "No", "No"),
]


def test_scores_on_quirky_answers_through_replay(tmp_path):
    # existence: acc 3/4 = 75, acc+ 1/2 = 50 -> 125; OCR: acc 50, acc+ 0 -> 50; perception 175
    # code_reasoning: acc 100, acc+ 100 -> cognition 200
    task = hub_task(tmp_path, [row(k, c, a) for k, c, a, _ in QUIRKS])
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": str(i), "prediction": q[3]}) + "\n" for i, q in enumerate(QUIRKS))
    )
    records = run_task(
        task, ReplayModel(preds), tmp_path / "run", EngineSettings(progress=False)
    ).records
    assert [r["id"] for r in records] == [str(i) for i in range(8)]
    assert [r["pred_label"] for r in records] == [
        "yes",
        "no",
        "yes",
        "other",
        "yes",
        "no",
        "other",
        "no",
    ]
    m = task.aggregate(records)
    assert (m["existence/acc"], m["existence/acc_plus"], m["existence/score"]) == (
        75.0,
        50.0,
        125.0,
    )
    assert (m["OCR/acc"], m["OCR/acc_plus"], m["OCR/score"]) == (50.0, 0.0, 50.0)
    assert m["code_reasoning/score"] == 200.0
    assert (m["perception"], m["cognition"], m["images"]) == (175.0, 200.0, 4)
    assert [task.resample_unit(r) for r in records[:3]] == ["existence/existence/a.jpg"] * 2 + [
        "existence/existence/b.jpg"
    ]


def test_failed_partner_makes_the_pair_wrong_for_acc_plus(tmp_path):
    task = hub_task(
        tmp_path,
        [
            row("color/a.jpg", "color", "Yes"),
            row("color/a.jpg", "color", "Maybe"),
            row("color/b.jpg", "color", "Yes"),
            row("color/b.jpg", "color", "No"),
        ],
    )
    records = run_oracle(task, tmp_path / "run")
    assert "not Yes/No" in records[1]["failed"]
    m = task.aggregate([r for r in records if not r.get("failed")])
    assert (m["color/acc"], m["color/acc_plus"]) == (100.0, 50.0)


def test_malformed_records(tmp_path):
    task = hub_task(
        tmp_path, [row("x/1.jpg", "count", "Yes", image=None), row(None, "count", "Yes")]
    )
    no_image, no_key = task.docs()
    with pytest.raises(SampleError, match="no image"):
        task.build_request(no_image)
    with pytest.raises(SampleError, match="question_id"):
        task.build_request(no_key)


def test_size_warning_and_demo_oracle(tmp_path, cache_dir):
    task = hub_task(tmp_path, [row("a", "count", "Yes"), row("a", "count", "No")])
    task.docs()
    assert len(task.warnings) == 1 and "2374" in task.warnings[0]
    cfg = load_group("task", "mme")
    cfg["dataset"] = demo_dataset("mme", cache_dir / "demo" / "data", cfg["dataset"])
    demo = MME(cfg)
    records = run_oracle(demo, tmp_path / "demo")
    assert {r["category"] for r in records} == set(PERCEPTION + COGNITION) and len(records) == 28
    assert not demo.warnings
    m = demo.aggregate(records)
    assert (m["perception"], m["cognition"]) == (2000.0, 800.0)
    from harness.report.stats import Resampler, bootstrap_ci

    rs = Resampler(demo, records)
    assert rs.path == "features" and len(rs.strata) == 14
    assert bootstrap_ci(demo, records, n_resamples=50) == (
        2000.0,
        2000.0,
    )  # strata keep every subtask
    records[0]["score"] = 0.0  # existence: acc 50, acc+ 0
    assert bootstrap_ci(demo, records, n_resamples=50) == (1850.0, 1850.0)


# ---- original release layout ---------------------------------------------------------------------
NESTED = ("celebrity", "posters", "artwork", "landmark", "scene")


def write_release(root, skip=()):
    for s in PERCEPTION + COGNITION:
        if s in skip:
            continue
        if s in NESTED:
            write_png(root / s / "images" / "10002.jpg")
            txt = root / s / "questions_answers_YN" / "10002.txt"
        else:
            write_png(root / s / "0001.png")
            txt = root / s / "0001.txt"
        txt.parent.mkdir(parents=True, exist_ok=True)
        txt.write_text(
            f"Is this {s}? Please answer yes or no.\tYes\n"
            f"Is this not {s}? Please answer yes or no.\tNo\n"
        )
    return root


def test_original_layout_both_folder_styles(tmp_path):
    root = write_release(tmp_path / "MME_Benchmark_release_version")
    task = MME(
        {"dataset": {"path": str(tmp_path), "format": "original"}}
    )  # the parent folder works too
    docs = task.docs()
    assert len(docs) == 28 and [d["id"] for d in docs[:2]] == ["0", "1"]
    first = docs[0]
    assert (first["category"], first["pair"], first["answer"]) == (
        "existence",
        "existence/0001.png",
        "Yes",
    )
    assert task.prompt(first) == "Is this existence?" + SUFFIX
    art = next(d for d in docs if d["category"] == "artwork")
    assert art["pair"] == "artwork/10002.jpg" and art["images"][0].path.endswith(
        "artwork/images/10002.jpg"
    )
    m = oracle_metrics(task)
    assert (m["perception"], m["cognition"]) == (2000.0, 800.0)
    assert root.is_dir()


def test_original_layout_errors(tmp_path):
    with pytest.raises(HarnessError, match="code_reasoning"):
        MME(
            {
                "dataset": {
                    "path": str(write_release(tmp_path / "a", skip=("code_reasoning",))),
                    "format": "original",
                }
            }
        ).docs()
    root = write_release(tmp_path / "b")
    (root / "OCR" / "0001.txt").write_text(
        "Is there text? Please answer yes or no. Yes\nIs it red?\tNo\n"
    )
    (root / "count" / "0001.png").unlink()
    task = MME({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    ocr = [d for d in docs if d["category"] == "OCR"]
    with pytest.raises(SampleError, match="TAB"):
        task.build_request(ocr[0])
    assert task.build_request(ocr[1]).id == ocr[1]["id"] and task.reference(ocr[1]) == "No"
    count = [d for d in docs if d["category"] == "count"]
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(count[0])
    assert any("2 of 28 image files are missing" in w for w in task.warnings)


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper"])
def test_protocol_scores_on_edge_cases(protocol):
    """Both versions: lowercase, strip, delete '.', yes/no, y/n, else yes/no within 4 characters."""
    task = MME({"protocol": protocol})
    doc = {"id": "0", "answer": "No", "category": "count", "pair": "count/a.jpg"}
    expected = {
        " No.\n": "no",
        "n": "no",
        "none": "no",
        "Yes, it is": "yes",
        "I think no": "other",
        "": "other",
    }
    for pred, label in expected.items():
        rec = task.score(doc, pred)
        assert (rec["pred_label"], rec["score"]) == (label, float(label == "no"))
