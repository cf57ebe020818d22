"""The contracts in harness/contracts.py: every model and task implements them, and the engine,
runner and benchmarks read declared capabilities instead of probing objects for attributes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.contracts import ModelProtocol, TaskProtocol, capabilities
from harness.models.base import Model
from harness.models.mllm import MLLM
from harness.models.oracle import OracleModel
from harness.models.replay import ReplayModel
from harness.tasks import get_task_class, task_names

ROOT = Path(__file__).resolve().parent.parent
PROBE = re.compile(r"\b(?:getattr|hasattr)\((?:self\.)?(?:model|task)\b")


def _members(proto: type) -> set[str]:
    names = set(getattr(proto, "__annotations__", {}))
    return names | {n for n, v in vars(proto).items() if callable(v) and not n.startswith("_")}


def test_every_model_class_has_every_declared_member(tmp_path):
    for cls in (MLLM, OracleModel, ReplayModel):
        assert issubclass(cls, Model)
        missing = [n for n in _members(ModelProtocol) if not hasattr(cls, n) and n != "timings"]
        assert not missing, (cls.__name__, missing)
    preds = tmp_path / "p.jsonl"
    preds.write_text(json.dumps({"id": "a", "prediction": "x"}) + "\n")
    for model in (OracleModel(), ReplayModel(preds)):
        assert isinstance(model, ModelProtocol)
        assert model.timings == {} and model.decode_module() is None
    assert dict(capabilities(OracleModel())) == {
        "batching": False,
        "image_sharing": False,
        "worker_preprocessing": False,
        "size_key": False,
        "device": False,
    }
    assert MLLM.can_share_images and not OracleModel.can_share_images


@pytest.mark.parametrize("name", task_names())
def test_every_builtin_task_implements_the_task_contract(name):
    task = get_task_class(name)({})
    assert isinstance(task, TaskProtocol), name
    assert task.name == name


def test_a_model_missing_a_method_is_not_a_model():
    class Half:
        name = "half"

        def generate(self, requests: list[object]) -> list[str]:
            return []

    assert not isinstance(Half(), ModelProtocol)


def test_the_engine_runner_and_benchmarks_do_not_probe_models_or_tasks():
    files = [
        *sorted((ROOT / "harness" / "engine").glob("*.py")),
        *(
            ROOT / "harness" / n
            for n in ("runner.py", "bench.py", "bench_sharing.py", "bench_tools.py")
        ),
    ]
    assert len([f for f in files if f.is_file()]) > 10
    hits = [
        f"{f.relative_to(ROOT)}:{i}"
        for f in files
        if f.is_file()
        for i, line in enumerate(f.read_text().splitlines(), 1)
        if PROBE.search(line) and "getattr(self.task, name)" not in line
    ]  # wrappers' delegation
    assert not hits, hits
