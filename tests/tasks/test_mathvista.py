"""MathVista: hub and testmini.json loaders, format-prompt snapshots for every answer type, both
protocols (lmms-eval today, lmms-eval-0.2) on hand-worked responses, generation lengths, the
judge (a fake endpoint on 127.0.0.1, a tiny local chat model) with its cache, malformed records."""

from __future__ import annotations

import json

import pytest
from _layouts import png, run_oracle, write_hub, write_json, write_png
from metrics.judge_server import FakeJudge, build_tiny_chat_model

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.demo.sets.mathvista import features
from harness.engine import EngineSettings, run_task
from harness.errors import HarnessError, SampleError
from harness.metrics.mathvista import judge_prompt
from harness.models.replay import ReplayModel
from harness.tasks.mathvista import MathVista

META = {
    "category": "math-targeted-vqa",
    "context": "bar chart",
    "grade": "daily life",
    "img_height": 8,
    "img_width": 8,
    "language": "english",
    "source": "test",
    "split": "testmini",
}


def row(
    pid,
    question,
    answer,
    qtype="free_form",
    atype="integer",
    choices=None,
    unit=None,
    precision=None,
    task="figure question answering",
    skills=("statistical reasoning",),
    image="png",
):
    return {
        "pid": str(pid),
        "question": question,
        "image": f"images/{pid}.jpg",
        "decoded_image": png() if image == "png" else image,
        "choices": choices,
        "unit": unit,
        "precision": precision,
        "answer": answer,
        "question_type": qtype,
        "answer_type": atype,
        "metadata": dict(META, task=task, skills=list(skills)),
        "query": f"Hint: hint {pid}.\nQuestion: {question}",
    }


MC = row(
    1,
    "What fraction of the shape is blue?",
    "8/11",
    "multi_choice",
    "text",
    ["3/11", "8/11", "6/11", "3/5"],
    task="math word problem",
    skills=["arithmetic reasoning", "algebraic reasoning"],
)
INT = row(2, "Which number is missing?", "14")
F1 = row(3, "What is the length of the bar?", "0.6", atype="float", precision=1.0, unit="cm")
F2 = row(
    4,
    "How much money does Luca need?",
    "1.45",
    atype="float",
    precision=2.0,
    unit="$",
    task="math word problem",
    skills=["arithmetic reasoning"],
)
LST = row(5, "Between which two years does the line peak?", "[2007, 2008]", atype="list")
ROWS = [MC, INT, F1, F2, LST]


def hub_task(tmp_path, rows, **cfg):
    folder = write_hub(tmp_path / "MathVista", {"default": {"testmini": rows}}, features())
    return MathVista({"dataset": {"path": str(folder), "split": "testmini"}, **cfg})


def test_prompt_snapshots():
    """Frozen prompt text (lmms-eval's format prompt); changing it means bumping
    MathVista.version."""
    assert MathVista.version == "2"
    t = MathVista()
    prompts = [t.prompt(dict(r, id=r["pid"])) for r in ROWS]
    assert prompts == [
        "What fraction of the shape is blue?\nA. 3/11\nB. 8/11\nC. 6/11\nD. 3/5\n"
        "Answer with the option's letter from the given choices directly.",
        "Which number is missing?\nAnswer the question using a single integer number.",
        "What is the length of the bar? (Unit: cm)\n"
        "Answer the question using a single floating-point number with one decimal place.",
        "How much money does Luca need? (Unit: $)\n"
        "Answer the question using a single floating-point number with two decimal places.",
        "Between which two years does the line peak?\nAnswer the question using a Python list.",
    ]


def test_config_yaml_protocols_and_generation_lengths():
    cfg = load_group("task", "mathvista")
    task = MathVista(cfg)
    assert (task.dataset["path"], task.dataset["split"]) == ("AI4Math/MathVista", "testmini")
    assert (
        cfg["max_new_tokens"] is None
        and cfg["judge"]["url"] is None
        and cfg["judge"]["model"] is None
    )
    assert (
        task.protocol == "lmms-eval" and task.generation().max_new_tokens == 16384
    )  # today's YAML
    assert task.judge() is None
    for name in ("lmms-eval-0.2", "paper"):
        old = MathVista(dict(cfg, protocol=name))
        assert (
            old.protocol == "lmms-eval-0.2" and old.generation().max_new_tokens == 1024
        )  # v0.2.4's YAML
    assert (
        MathVista(dict(cfg, protocol="paper", max_new_tokens=64)).generation().max_new_tokens == 64
    )
    demo = MathVista(dict(cfg, dataset=dict(cfg["dataset"], demo=True)))
    assert demo.generation().max_new_tokens == 128
    with pytest.raises(HarnessError, match="unknown protocol 'llava'"):
        MathVista(dict(cfg, protocol="llava"))


# (row, response, extraction method, right?) with no judge: lmms-eval's exact step, else ""
CASES = [
    (MC, "8/11", "exact", True),
    (MC, " 8/11 ", "exact", True),  # stripped first
    (MC, "B", "none", False),  # "" -> the shortest choice "3/5"
    (MC, "The answer is (B) 8/11.", "none", False),
    (INT, "14", "exact", True),
    (INT, "There are 14 in all", "none", False),
    (INT, "", "exact", False),
    (F1, "0.6", "exact", False),  # precision 1.0 from the hub: round() raises
    (F2, "1.45", "exact", False),
    (LST, "[2007, 2008]", "none", False),
]


def _replay(tmp_path, task, responses, name="run"):
    preds = tmp_path / f"{name}.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": str(i), "prediction": r}) + "\n" for i, r in enumerate(responses))
    )
    return run_task(
        task, ReplayModel(preds), tmp_path / name, EngineSettings(progress=False)
    ).records


@pytest.mark.parametrize("protocol", ["lmms-eval", "lmms-eval-0.2"])
def test_rules_only_scoring_through_replay(tmp_path, protocol):
    rows = [dict(r, pid=str(i)) for i, (r, _, _, _) in enumerate(CASES)]
    task = hub_task(tmp_path, rows, protocol=protocol)
    records = _replay(tmp_path, task, [c[1] for c in CASES])
    assert [r["extraction_method"] for r in records] == [c[2] for c in CASES]
    assert [r["score"] for r in records] == [float(c[3]) for c in CASES]
    assert records[2]["extraction"] == "" and records[2]["normalized"] == "3/5"
    assert records[7]["extraction"] == "0.6" and records[7]["normalized"] is None
    assert {r["judge"] for r in records} == {"rules only"}
    m = task.aggregate(records)
    assert m["accuracy"] == pytest.approx(100 * 3 / 10) and m["judge"] == "rules only"
    assert m["question_type/multi_choice"] == 50.0 and m["answer_type/float"] == 0.0
    assert (m["extraction/exact"], m["extraction/none"]) == (6, 4)


def test_opt_in_rules_are_recorded(tmp_path):
    task = hub_task(tmp_path, [dict(INT, pid="1")], judge={"use_rules": True})
    rec = task.score(task.docs()[0], "There are 14 in all")
    assert (rec["extraction_method"], rec["score"]) == ("rule", 1.0)


@pytest.mark.parametrize(
    "protocol,model", [("lmms-eval", "gpt-4o-2024-11-20"), ("paper", "gpt-3.5-turbo")]
)
def test_judge_prompt_model_cache_and_record(tmp_path, protocol, model):
    rows = [dict(INT, pid="0"), dict(MC, pid="1"), dict(LST, pid="2"), dict(INT, pid="3")]
    responses = ["fourteen", "I pick B", "It peaks in 2007 and 2008", "14"]
    replies = {"fourteen": "14", "I pick B": "B", "It peaks in 2007 and 2008": "[2007, 2008]"}
    with FakeJudge(reply=lambda p: replies[p.rsplit("\n\n", 2)[1]]) as srv:
        judge = {"url": srv.url, "api_key_env": None, "timeout_s": 5, "retries": 0}
        for attempt in range(2):
            task = hub_task(
                tmp_path / "d", rows, protocol=protocol, judge=judge, cache_dir=str(tmp_path / "c")
            )
            records = _replay(tmp_path, task, responses, name=f"run{attempt}")
            assert [r["extraction_method"] for r in records] == ["judge", "judge", "judge", "exact"]
            assert [r["extraction"] for r in records] == ["14", "B", "[2007, 2008]", "14"]
            assert [r["score"] for r in records] == [1.0] * 4
        assert len(srv.requests) == 3  # the second run read the cache
        assert {r["body"]["model"] for r in srv.requests} == {model}
        prompts = [r["body"]["messages"][0]["content"] for r in srv.requests]
        assert (
            judge_prompt("Hint: hint 2.\nQuestion: Which number is missing?", "fourteen") in prompts
        )
        m = task.aggregate(records)
        assert m["judge"] == f"{model} @ {srv.url}" and m["extraction/judge"] == 3
    assert len(list((tmp_path / "c" / "judge" / "mathvista").glob("*.json"))) == 3


def test_no_answer_from_the_judge_is_an_empty_extraction(tmp_path):
    with FakeJudge(status=500) as srv:
        judge = {"url": srv.url, "retries": 1, "backoff_s": 0.0, "timeout_s": 5}
        task = hub_task(tmp_path, [dict(INT, pid="1"), dict(MC, pid="2", query=None)], judge=judge)
        docs = task.docs()
        rec = task.score(docs[0], "fourteen")
        assert (rec["extraction_method"], rec["extraction"], rec["score"]) == (
            "judge-failed",
            "",
            0.0,
        )
        assert len(srv.requests) == 2
        with pytest.raises(SampleError, match="record 2: no 'query'"):
            task.score(docs[1], "I pick B")


def test_offline_judge_with_a_tiny_local_chat_model(tmp_path):
    folder = tmp_path / "tiny-judge"
    build_tiny_chat_model(folder, answer="7")  # answers "7" to any prompt
    task = hub_task(
        tmp_path,
        [dict(INT, pid="1", answer="7"), dict(INT, pid="2")],
        judge={"model": str(folder)},
        cache_dir=str(tmp_path / "c"),
    )
    docs = task.docs()
    rec = task.score(docs[0], "seven")
    assert (rec["extraction_method"], rec["extraction"], rec["score"]) == ("judge", "7", 1.0)
    assert rec["judge"] == f"local {folder.resolve()}"
    assert task.score(docs[1], "fourteen")["score"] == 0.0  # "7" != "14"
    assert task.judge().requests == 2


def test_malformed_records(tmp_path):
    bad_mc = dict(MC, pid="1", answer="9/11")
    no_choices = dict(MC, pid="2", choices=None)
    no_image = dict(INT, pid="3", image=None, decoded_image=None)
    task = hub_task(tmp_path, [bad_mc, no_choices, no_image, dict(F1, pid="4", precision=None)])
    docs = task.docs()
    for doc, msg in zip(
        docs[:3], ("not one of its choices", "without a list of choices", "no image")
    ):
        with pytest.raises(SampleError, match=msg):
            task.build_request(doc)
    assert task.prompt(docs[3]).endswith(
        "using a single floating-point number."
    )  # no precision given
    rec = task.score(docs[3], "0.6")  # lmms-eval: round(0.6, None) = 1
    assert (rec["normalized"], rec["score"]) == ("1", 0.0)


def test_demo_oracle(tmp_path, cache_dir):
    """The oracle answers each ground truth: multi-choice and integer answers are taken as they
    are; float answers never match (the precision defect) and lists need a judge."""
    cfg = load_group("task", "mathvista")
    cfg["dataset"] = demo_dataset("mathvista", cache_dir / "demo" / "data", cfg["dataset"])
    task = MathVista(cfg)
    records = run_oracle(task, tmp_path)
    assert not any(r.get("failed") for r in records) and not task.warnings
    assert {(r["question_type"], r["answer_type"]) for r in records} == {
        ("multi_choice", "text"),
        ("free_form", "integer"),
        ("free_form", "float"),
        ("free_form", "list"),
    }
    assert {task.docs()[i].get("precision") for i in range(len(records))} >= {1.0, 2.0}
    m = task.aggregate(records)
    assert m["answer_type/text"] == 100.0 and m["answer_type/integer"] == 100.0
    assert m["answer_type/float"] == 0.0 and m["answer_type/list"] == 0.0


def test_testmini_json_layout(tmp_path):
    root = tmp_path / "MathVista"
    problems = {}
    for r in ROWS:
        rec = {k: v for k, v in r.items() if k != "decoded_image"}
        problems[r["pid"]] = rec
        if r["pid"] != "5":
            write_png(root / rec["image"])
    write_json(root / "testmini.json", problems)
    task = MathVista({"dataset": {"path": str(root), "format": "original"}})
    docs = task.docs()
    assert [d["id"] for d in docs] == ["1", "2", "3", "4", "5"]
    assert any("1 of 5 image files are missing" in w for w in task.warnings)
    assert task.prompt(docs[0]).startswith("What fraction of the shape is blue?\nA. 3/11")
    with pytest.raises(SampleError, match="image file not found"):
        task.build_request(docs[4])
    assert (
        MathVista({"dataset": {"path": str(root / "testmini.json"), "format": "original"}}).docs()[
            0
        ]["id"]
        == "1"
    )
    with pytest.raises(HarnessError, match="testmini.json"):
        MathVista({"dataset": {"path": str(tmp_path / "nowhere"), "format": "original"}}).docs()
