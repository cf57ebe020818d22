"""POPE: hub (default and Full configs) and original loaders, id scheme, prompt snapshot,
both parsing protocols on hand-worked predictions, size warnings, malformed records."""

from __future__ import annotations

import json

import pytest
from _layouts import oracle_metrics, png, run_oracle, write_hub, write_png

from harness.config import load_group
from harness.demo.data import ensure_demo_data
from harness.demo.sets.pope import features
from harness.engine import EngineSettings, run_task
from harness.errors import HarnessError, SampleError
from harness.models.replay import ReplayModel
from harness.tasks.pope import POPE


def row(qid, split, answer="yes", question="Is there a dog in the image?", image="png"):
    return {
        "id": f"{split}{qid}",
        "question_id": str(qid),
        "question": question,
        "answer": answer,
        "image_source": f"COCO_{qid}.jpg",
        "image": png() if image == "png" else image,
        "category": split,
    }


def hub_task(tmp_path, rows, protocol=None, **ds):
    folder = write_hub(tmp_path / "POPE", {"default": {"test": rows}}, features())
    cfg = {"dataset": {"path": str(folder), "name": "default", "split": "test", **ds}}
    return POPE(cfg | ({"protocol": protocol} if protocol else {}))


def test_prompt_snapshot():
    """Frozen prompt text; changing it means bumping POPE.version."""
    assert POPE.version == "2"
    assert POPE().prompt({"id": "1", "question": "Is there a snowboard in the image? "}) == (
        "Is there a snowboard in the image?\nAnswer the question using a single word or phrase."
    )


def test_config_yaml_and_protocols():
    task = POPE(load_group("task", "pope"))
    assert (task.dataset["path"], task.dataset["name"], task.dataset["split"]) == (
        "lmms-lab/POPE",
        "default",
        "test",
    )
    assert (
        task.protocol == "lmms-eval" and task.generation().max_new_tokens == 128
    )  # lmms-eval pope.yaml
    assert POPE({"protocol": "llava"}).protocol == "llava"
    with pytest.raises(HarnessError, match="unknown protocol"):
        POPE({"protocol": "vlmevalkit"})


# (split, truth, prediction): hand-worked in the comments of test_protocols_on_quirky_answers
QUIRKS = [
    ("random", "yes", "Yes"),
    ("random", "yes", "yes."),
    ("random", "no", "No"),
    ("random", "no", "no, there is not."),
    ("popular", "yes", "There is a dog."),
    ("popular", "no", "Not sure"),
    ("popular", "yes", "no"),
    ("popular", "no", "yes"),
]


@pytest.mark.parametrize(
    "protocol,want",
    [
        # lmms-eval: only bare yes/no count.
        # random: TP1 TN1 other2 -> acc 50, P 100, R 100, F1 100, yes 25;
        # popular: FN1 FP1 other2 -> all 0, yes 25;
        # overall TP1 FP1 TN1 FN1 other4 -> acc 25, P=R=F1 50, yes 25.
        (
            "lmms-eval",
            {
                "accuracy": 25.0,
                "precision": 50.0,
                "recall": 50.0,
                "f1": 50.0,
                "yes_ratio": 25.0,
                "random/accuracy": 50.0,
                "random/f1": 100.0,
                "random/yes_ratio": 25.0,
                "popular/accuracy": 0.0,
                "popular/f1": 0.0,
                "popular/yes_ratio": 25.0,
                "mean_f1": 50.0,
                "unparsed": 4,
            },
        ),
        # llava: random all right (yes, yes, no, no);
        # popular: "There is a dog."->yes TP, "Not sure"->yes FP
        # ("Not" is no word of no/No/not), "no" FN, "yes" FP: P 1/3, R 1/2, F1 40, yes 75.
        # overall TP3 FP2 TN2 FN1 -> acc 62.5, P 60, R 75, F1 2/3, yes 62.5;
        # mean F1 (100 + 40) / 2 = 70.
        (
            "llava",
            {
                "accuracy": 62.5,
                "precision": 60.0,
                "recall": 75.0,
                "f1": 200 / 3,
                "yes_ratio": 62.5,
                "random/accuracy": 100.0,
                "random/f1": 100.0,
                "random/yes_ratio": 50.0,
                "popular/accuracy": 25.0,
                "popular/precision": 100 / 3,
                "popular/recall": 50.0,
                "popular/f1": 40.0,
                "popular/yes_ratio": 75.0,
                "mean_f1": 70.0,
                "unparsed": 0,
            },
        ),
    ],
)
def test_protocols_on_quirky_answers_through_replay(tmp_path, protocol, want):
    rows = [row(i, split, truth) for i, (split, truth, _) in enumerate(QUIRKS)]
    task = hub_task(tmp_path, rows, protocol=protocol)
    preds = tmp_path / "preds.jsonl"
    preds.write_text(
        "".join(
            json.dumps({"id": str(i), "prediction": p}) + "\n" for i, (_, _, p) in enumerate(QUIRKS)
        )
    )
    records = run_task(
        task, ReplayModel(preds), tmp_path / "run", EngineSettings(progress=False)
    ).records
    got = task.aggregate(records)
    for k, v in want.items():
        assert got[k] == pytest.approx(v), k


def test_ids_keep_unique_question_ids_else_prefix_the_split(tmp_path):
    unique = hub_task(tmp_path / "u", [row(1, "random"), row(2, "popular")]).docs()
    assert [d["id"] for d in unique] == ["1", "2"]
    repeated = hub_task(
        tmp_path / "r", [row(1, "random"), row(1, "popular"), row(2, "popular")]
    ).docs()
    assert [d["id"] for d in repeated] == ["random/1", "popular/1", "popular/2"]
    assert [d["split"] for d in repeated] == ["random", "popular", "popular"]


def test_full_config_with_a_list_of_splits(tmp_path):
    cfgs = {
        "Full": {
            s: [row(1, s, "yes"), row(2, s, "no")] for s in ("adversarial", "popular", "random")
        }
    }
    folder = write_hub(tmp_path / "POPE", cfgs, features())
    task = POPE(
        {
            "dataset": {
                "path": str(folder),
                "name": "Full",
                "split": ["adversarial", "popular", "random"],
            }
        }
    )
    docs = task.docs()
    assert len(docs) == 6 and docs[0]["id"] == "adversarial/1" and docs[-1]["id"] == "random/2"
    m = oracle_metrics(task)
    assert m["f1"] == 100.0 and m["adversarial/f1"] == 100.0 and m["yes_ratio"] == 50.0


def test_malformed_records_are_sample_errors(tmp_path):
    task = hub_task(
        tmp_path, [row(1, "random", answer="maybe"), row(2, "random", image=None), row(3, "random")]
    )
    bad_answer, no_image, good = task.docs()
    with pytest.raises(SampleError, match="not yes/no"):
        task.build_request(bad_answer)
    with pytest.raises(SampleError, match="no image"):
        task.build_request(no_image)
    assert task.build_request(good).id == good["id"] and task.reference(good) == "yes"
    records = run_oracle(task, tmp_path / "run")
    assert [bool(r.get("failed")) for r in records] == [True, True, False]


def test_size_warning(tmp_path):
    task = hub_task(tmp_path, [row(1, "random")])
    task.docs()
    assert (
        len(task.warnings) == 1 and "1 samples" in task.warnings[0] and "9000" in task.warnings[0]
    )


# ---- original release layout ---------------------------------------------------------------------
def write_release(root, counts=None, images=True, skip=()):
    counts = counts or {"adversarial": 2, "popular": 2, "random": 2}
    for split, n in counts.items():
        if split in skip:
            continue
        lines = [
            json.dumps(
                {
                    "question_id": i + 1,
                    "image": f"COCO_val2014_{i % 2:012d}.jpg",
                    "text": "Is there a cat in the image?",
                    "label": "yes" if i % 2 == 0 else "no",
                }
            )
            for i in range(n)
        ]
        (root / f"coco_pope_{split}.json").parent.mkdir(parents=True, exist_ok=True)
        (root / f"coco_pope_{split}.json").write_text("\n".join(lines) + "\n")
    if images:
        for i in range(2):
            write_png(root / "val2014" / f"COCO_val2014_{i:012d}.jpg")
    return root


def test_original_layout(tmp_path):
    root = write_release(tmp_path / "pope")
    task = POPE({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert len(docs) == 6 and docs[0]["id"] == "adversarial/1" and docs[0]["split"] == "adversarial"
    assert (
        task.prompt(docs[0])
        == "Is there a cat in the image?\nAnswer the question using a single word or phrase."
    )
    assert docs[0]["images"][0].load().size == (8, 8)
    assert oracle_metrics(task)["f1"] == 100.0


def test_original_layout_errors(tmp_path):
    with pytest.raises(HarnessError, match="coco_pope_popular.json"):
        POPE(
            {
                "dataset": {
                    "path": str(write_release(tmp_path / "a", skip=("popular",))),
                    "format": "original",
                }
            }
        ).docs()
    with pytest.raises(HarnessError, match="val2014"):
        POPE(
            {
                "dataset": {
                    "path": str(write_release(tmp_path / "b", images=False)),
                    "format": "original",
                }
            }
        ).docs()
    root = write_release(tmp_path / "c")
    (root / "val2014" / "COCO_val2014_000000000001.jpg").unlink()
    task = POPE({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert any("3 of 6 image files are missing" in w for w in task.warnings)
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[1])


def test_llava_copy_of_the_random_split_is_named_in_the_warning(tmp_path):
    root = write_release(
        tmp_path / "pope", counts={"adversarial": 3000, "popular": 3000, "random": 2910}
    )
    task = POPE({"dataset": {"path": str(root), "format": "original"}})
    assert len(task.docs()) == 8910
    assert (
        len(task.warnings) == 1 and "2910" in task.warnings[0] and "LLaVA-1.5" in task.warnings[0]
    )


def test_demo_oracle_reaches_the_maximum_and_bootstrap_uses_counts(tmp_path, cache_dir):
    from harness.report.stats import Resampler

    folder = ensure_demo_data("pope", cache_dir / "demo" / "data")
    cfg = load_group("task", "pope")
    cfg["dataset"].update(path=str(folder), demo=True)
    task = POPE(cfg)
    records = run_oracle(task, tmp_path)
    assert {r["split"] for r in records} == {"adversarial", "popular", "random"}
    assert len({r["id"] for r in records}) == len(records) and not task.warnings
    m = task.aggregate(records)
    assert m["f1"] == 100.0 and m["mean_f1"] == 100.0 and m["accuracy"] == 100.0
    assert Resampler(task, records).path == "features"


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2", "paper", "llava"])
def test_protocol_scores_on_edge_cases(protocol):
    """lmms-eval (both versions): the stripped, lowercased answer must be exactly yes/no.
    LLaVA: before the first '.', commas dropped, 'no'/'No'/'not' among the words means no."""
    task = POPE({"protocol": protocol})
    cases = {
        " Yes\n": ("yes", "yes"),
        "NO": ("no", "yes"),
        "Yes.": ("other", "yes"),
        "No, there is not.": ("other", "no"),
        "\u3000no\u3000": ("no", "no"),
    }
    column = 1 if protocol == "llava" else 0
    for pred, labels in cases.items():
        rec = task.score({"id": "q", "answer": "yes", "split": "random"}, pred)
        assert rec["pred_label"] == labels[column] and rec["score"] == float(
            labels[column] == "yes"
        )
