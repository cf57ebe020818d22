"""MathVista: hub and testmini.json loaders, format-prompt snapshots for every answer type,
extraction methods on hand-worked responses, breakdowns, the optional judge (a local fake
endpoint on 127.0.0.1) with its on-disk cache, malformed records."""
from __future__ import annotations

import json

import pytest
from _layouts import png, run_oracle, write_hub, write_json, write_png
from metrics.judge_server import FakeJudge

from harness.config import load_group
from harness.demo.data import demo_dataset
from harness.engine import EngineSettings, run_task
from harness.errors import HarnessError, SampleError
from harness.models.replay import ReplayModel
from tasks.demo.mathvista import features
from tasks.mathvista import MathVista

META = {"category": "math-targeted-vqa", "context": "bar chart", "grade": "daily life", "img_height": 8,
        "img_width": 8, "language": "english", "source": "test", "split": "testmini"}


def row(pid, question, answer, qtype="free_form", atype="integer", choices=None, unit=None, precision=None,
        task="figure question answering", skills=("statistical reasoning",), image="png"):
    return {"pid": str(pid), "question": question, "image": f"images/{pid}.jpg",
            "decoded_image": png() if image == "png" else image, "choices": choices, "unit": unit,
            "precision": precision, "answer": answer, "question_type": qtype, "answer_type": atype,
            "metadata": dict(META, task=task, skills=list(skills)), "query": question}


MC = row(1, "What fraction of the shape is blue?", "8/11", "multi_choice", "text", ["3/11", "8/11", "6/11", "3/5"],
         task="math word problem", skills=["arithmetic reasoning", "algebraic reasoning"])
INT = row(2, "Which number is missing?", "14")
F1 = row(3, "What is the length of the bar?", "0.6", atype="float", precision=1.0, unit="cm")
F2 = row(4, "How much money does Luca need?", "1.45", atype="float", precision=2.0, unit="$",
         task="math word problem", skills=["arithmetic reasoning"])
LST = row(5, "Between which two years does the line peak?", "[2007, 2008]", atype="list")
ROWS = [MC, INT, F1, F2, LST]


def hub_task(tmp_path, rows, **cfg):
    folder = write_hub(tmp_path / "MathVista", {"default": {"testmini": rows}}, features())
    return MathVista({"dataset": {"path": str(folder), "split": "testmini"}, **cfg})


def test_prompt_snapshots():
    """Frozen prompt text (lmms-eval's format prompt); changing it means bumping MathVista.version."""
    assert MathVista.version == "1"
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


def test_config_yaml():
    cfg = load_group("task", "mathvista")
    task = MathVista(cfg)
    assert (task.dataset["path"], task.dataset["split"]) == ("AI4Math/MathVista", "testmini")
    assert task.generation().max_new_tokens == 128 and cfg["judge"]["url"] is None


# (row, response, extraction method, right?)
CASES = [(MC, "B", "rule", True), (MC, "8/11", "exact", True), (MC, "The answer is (C) 6/11.", "rule", False),
         (MC, "B. 8/11", "none", False),            # empty extraction -> the shortest choice "3/5"
         (INT, "14", "exact", True), (INT, "There are 14.0 in all", "rule", True), (INT, "fourteen", "none", False),
         (F1, "0.6", "exact", True), (F1, "0.64 cm", "rule", True), (F2, "1.450", "exact", True),
         (F2, "$1.5", "rule", False), (LST, "[2007, 2008]", "exact", True), (LST, "", "none", False)]


def test_extraction_methods_and_breakdowns_through_replay(tmp_path):
    rows = [dict(r, pid=str(i)) for i, (r, _, _, _) in enumerate(CASES)]
    task = hub_task(tmp_path, rows)
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"id": str(i), "prediction": c[1]}) + "\n" for i, c in enumerate(CASES)))
    records = run_task(task, ReplayModel(preds), tmp_path / "run", EngineSettings(progress=False)).records
    assert [r["extraction_method"] for r in records] == [c[2] for c in CASES]
    assert [r["score"] for r in records] == [float(c[3]) for c in CASES]
    assert records[3]["normalized"] == "3/5" and records[6]["normalized"] is None
    m = task.aggregate(records)
    assert m["accuracy"] == pytest.approx(100 * 8 / 13)
    assert m["question_type/multi_choice"] == 50.0 and m["answer_type/integer"] == pytest.approx(200 / 3)
    assert m["answer_type/float"] == 75.0 and m["answer_type/list"] == 50.0
    # math word problem: the 4 MC rows (2 right) and the 2 F2 rows (1 right)
    assert m["task/math word problem"] == 50.0
    assert m["skill/algebraic reasoning"] == 50.0 and m["skill/arithmetic reasoning"] == 50.0
    assert m["skill/statistical reasoning"] == pytest.approx(100 * 5 / 7)
    assert (m["extraction/exact"], m["extraction/rule"], m["extraction/none"]) == (5, 5, 3)


def test_judge_is_used_only_when_configured_and_cached(tmp_path):
    rows = [dict(INT, pid="1"), dict(MC, pid="2")]
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "1", "prediction": "fourteen"}) + "\n"
                     + json.dumps({"id": "2", "prediction": "I pick B"}) + "\n")
    seen = []

    def reply(prompt):
        seen.append(prompt)
        return "14" if "Which number is missing?" in prompt else "B"

    with FakeJudge(reply=reply) as srv:
        judge = {"url": srv.url, "model": "tiny-judge", "api_key_env": None, "timeout_s": 5}
        for attempt in range(2):
            task = hub_task(tmp_path / "d", rows, judge=judge, cache_dir=str(tmp_path / "cache"))
            records = run_task(task, ReplayModel(preds), tmp_path / f"run{attempt}", EngineSettings(progress=False)).records
            assert [r["extraction_method"] for r in records] == ["judge", "judge"]
            assert [r["extraction"] for r in records] == ["14", "B"] and [r["score"] for r in records] == [1.0, 1.0]
        assert len(srv.requests) == 2                  # the second run read the cache
        assert any("Which number is missing?" in p and p.endswith("Reply: fourteen\nExtracted answer:") for p in seen)
    assert len(list((tmp_path / "cache" / "judge" / "mathvista").glob("*.json"))) == 2
    # rules first by default: an answer the rules read never reaches the judge
    task = hub_task(tmp_path / "e", [dict(INT, pid="1")], judge=dict(judge, url="http://127.0.0.1:9"))
    assert task.score(task.docs()[0], "It is 14")["extraction_method"] == "rule"


def test_judge_before_rules_when_use_rules_is_false(tmp_path):
    with FakeJudge(reply=lambda p: "13") as srv:
        judge = {"url": srv.url, "model": "m", "cache_dir": str(tmp_path / "jc"), "use_rules": False, "timeout_s": 5}
        task = hub_task(tmp_path, [dict(INT, pid="1")], judge=judge)
        doc = task.docs()[0]
        rec = task.score(doc, "It is 14")
        assert (rec["extraction_method"], rec["extraction"], rec["score"]) == ("judge", "13", 0.0)
        assert task.score(doc, "14")["extraction_method"] == "exact"   # exact still comes first
        assert len(srv.requests) == 1


def test_malformed_records(tmp_path):
    bad_mc = dict(MC, pid="1", answer="9/11")
    no_choices = dict(MC, pid="2", choices=None)
    no_image = dict(INT, pid="3", image=None, decoded_image=None)
    task = hub_task(tmp_path, [bad_mc, no_choices, no_image, dict(F1, pid="4", precision=None)])
    docs = task.docs()
    for doc, msg in zip(docs[:3], ("not one of its choices", "without a list of choices", "no image")):
        with pytest.raises(SampleError, match=msg):
            task.build_request(doc)
    assert task.prompt(docs[3]).endswith("using a single floating-point number.")   # no precision given
    assert task.score(docs[3], "0.6")["score"] == 1.0


def test_demo_oracle(tmp_path, cache_dir):
    cfg = load_group("task", "mathvista")
    cfg["dataset"] = demo_dataset("mathvista", cache_dir / "demo" / "data", cfg["dataset"])
    task = MathVista(cfg)
    records = run_oracle(task, tmp_path)
    assert not any(r.get("failed") for r in records) and not task.warnings
    assert {(r["question_type"], r["answer_type"]) for r in records} == {
        ("multi_choice", "text"), ("free_form", "integer"), ("free_form", "float"), ("free_form", "list")}
    assert {task.docs()[i].get("precision") for i in range(len(records))} >= {1.0, 2.0}
    m = task.aggregate(records)
    assert m["accuracy"] == 100.0 and all(v == 100.0 for k, v in m.items() if "/" in k and not k.startswith("extraction"))


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
    assert MathVista({"dataset": {"path": str(root / "testmini.json"), "format": "original"}}).docs()[0]["id"] == "1"
    with pytest.raises(HarnessError, match="testmini.json"):
        MathVista({"dataset": {"path": str(tmp_path / "nowhere"), "format": "original"}}).docs()
