"""A newcomer adds a benchmark without touching the package: one Python file
(``tests/extending/toy_count.py``) and one task YAML in a ``--config-dir`` folder, over a tiny
hub-layout dataset written here; run through the real entry point (``python -m harness``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.tasks import get_task_class, load_adapter

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "extending"


def _dataset(folder: Path) -> Path:
    from datasets import Features, Value
    from datasets import Image as HFImage

    from harness.demo.hub import png_bytes, write_hub_dataset

    rows = [
        {
            "qid": f"t{i}",
            "question": f"How many squares ({i})?",
            "answer": str(i % 3),
            "image": png_bytes(Image.new("RGB", (8 + i, 8), "white")),
        }
        for i in range(5)
    ]
    feats = Features(
        {
            "qid": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
            "image": HFImage(decode=False),
        }
    )
    return write_hub_dataset(folder, {"default": {"test": rows}}, feats)


def _user_conf(tmp: Path, data: Path, adapter: str) -> Path:
    conf = tmp / "myconf" / "task"
    conf.mkdir(parents=True)
    (conf / "toy.yaml").write_text(
        f"name: toy\nadapter: {adapter}\ndataset:\n  path: {data}\n"
        "  name: default\n  split: test\n",
        encoding="utf-8",
    )
    return conf.parent


def test_a_toy_benchmark_from_a_test_folder_runs_through_the_entry_point(tmp_path):
    user = _user_conf(tmp_path, _dataset(tmp_path / "toydata"), "toy_count:ToyCount")
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(ROOT)]))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "--config-dir",
            str(user),
            "task=toy",
            "model=oracle",
            "data=hub",
            "device=cpu",
            f"output_dir={out}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "--config-dir",
            str(user),
            "task=toy",
            "model=oracle",
            "data=demo",
            f"output_dir={tmp_path / 'o2'}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (
        demo.returncode != 0 and "task toy has no demo set" in demo.stderr.strip().splitlines()[-1]
    )
    scores = [json.loads(p.read_text()) for p in out.rglob("scores.json")]
    assert scores, sorted(str(p) for p in out.rglob("*"))
    toy = scores[0]["toy"] if "toy" in scores[0] else scores[0]["tasks"]["toy"]
    assert toy["value"] == 100.0 and toy["n"] == 5
    preds = [json.loads(x) for x in next(out.rglob("toy.jsonl")).read_text().splitlines()]
    assert [p["prediction"] for p in preds] == ["0", "1", "2", "0", "1"]


def test_an_adapter_file_path_loads_and_bad_adapters_say_why(tmp_path):
    cls = load_adapter(f"{HERE / 'toy_count.py'}:ToyCount", "toy")
    assert cls.name == "toy" and get_task_class("toy", f"{HERE / 'toy_count.py'}:ToyCount")
    with pytest.raises(HarnessError, match="no Task subclass named 'Nope'"):
        load_adapter(f"{HERE / 'toy_count.py'}:Nope")
    with pytest.raises(HarnessError, match="no such file"):
        load_adapter(f"{tmp_path / 'missing.py'}:ToyCount")
    with pytest.raises(HarnessError, match="cannot import 'no_such_module_xyz'"):
        load_adapter("no_such_module_xyz:ToyCount")
    with pytest.raises(HarnessError, match="the task config's name is 'other'"):
        load_adapter(f"{HERE / 'toy_count.py'}:ToyCount", "other")


def test_the_oracle_reads_references_from_the_task_not_the_request(tmp_path):
    from harness.engine import EngineSettings, run_task
    from harness.models.oracle import OracleModel
    from harness.types import Request

    task = load_adapter(f"{HERE / 'toy_count.py'}:ToyCount")(
        {"dataset": {"path": str(_dataset(tmp_path / "d")), "name": "default", "split": "test"}}
    )
    assert "reference" not in Request.__dataclass_fields__
    oracle = OracleModel()
    assert "before any task" in str(oracle.generate([Request(id="t1", prompt="?")])[0])
    records = run_task(task, oracle, tmp_path / "run", EngineSettings(progress=False)).records
    assert [r["score"] for r in records] == [1.0] * 5
    assert "not in toy's data" in str(oracle.generate([Request(id="zz", prompt="?")])[0])
