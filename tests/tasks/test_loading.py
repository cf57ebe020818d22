"""Shared dataset access: local snapshots never share a cache, hub-id fallback, row conversion."""

from __future__ import annotations

import time

import pytest
from datasets import Features, Value

from harness.demo.hub import write_hub_dataset
from harness.errors import HarnessError, SampleError
from harness.tasks import loading
from harness.tasks.loading import (
    check_image_files,
    hub_id_alternatives,
    load_hub,
    load_hub_any,
    row_id,
    safe_convert,
)

FEATS = Features({"a": Value("string")})


def test_same_named_folders_do_not_share_cached_data(tmp_path):
    """datasets keys a local folder's cache by its name; two 'chartqa' folders must still differ."""
    first = write_hub_dataset(
        tmp_path / "one" / "chartqa", {"default": {"test": [{"a": "x"}] * 2}}, FEATS
    )
    second = write_hub_dataset(
        tmp_path / "two" / "chartqa", {"default": {"test": [{"a": "y"}] * 3}}, FEATS
    )
    assert load_hub(str(first), None, "test")["a"] == ["x", "x"]
    assert load_hub(str(second), None, "test")["a"] == ["y", "y", "y"]
    time.sleep(0.01)
    write_hub_dataset(first, {"default": {"test": [{"a": "z"}]}}, FEATS)  # rewritten in place
    assert load_hub(str(first), None, "test")["a"] == ["z"]


def test_hub_id_alternatives():
    assert hub_id_alternatives("lmms-lab/ChartQA") == [
        "lmms-lab/ChartQA",
        "lmms-lab-encoder/ChartQA",
    ]
    assert hub_id_alternatives("lmms-lab-encoder/GQA") == ["lmms-lab-encoder/GQA", "lmms-lab/GQA"]
    assert hub_id_alternatives("echo840/OCRBench") == ["echo840/OCRBench"]
    assert hub_id_alternatives("lmms-lab/a/b") == ["lmms-lab/a/b"]


def test_falls_back_to_the_other_organisation(monkeypatch):
    calls = []

    def fake_load_hub(path, name, split, image_columns=("image",)):
        calls.append(path)
        if path.startswith("lmms-lab/"):
            raise HarnessError(f"dataset {path} failed to load: offline")
        return f"loaded {path}"

    monkeypatch.setattr(loading, "load_hub", fake_load_hub)
    assert load_hub_any("lmms-lab/OK-VQA", None, "val2014") == "loaded lmms-lab-encoder/OK-VQA"
    assert calls == ["lmms-lab/OK-VQA", "lmms-lab-encoder/OK-VQA"]


def test_offline_failure_names_every_id_tried():
    with pytest.raises(
        HarnessError, match=r"lmms-lab/NoSuchSet.*also tried lmms-lab-encoder/NoSuchSet"
    ):
        load_hub_any("lmms-lab/NoSuchSet", None, "test")


def test_local_folder_is_not_replaced_by_a_hub_id(tmp_path):
    with pytest.raises(HarnessError, match="not found") as err:
        load_hub_any(str(tmp_path / "lmms-lab" / "GQA"), None, "testdev")
    assert "also tried" not in str(err.value)


def test_safe_convert_keeps_the_id_and_the_reason():
    def convert(i, row):
        if row.get("bad") == "sample":
            raise SampleError("record has no image")
        return {"id": row["qid"], "x": 1 / row["n"]}

    safe = safe_convert(convert, row_id("qid"))
    assert safe(0, {"qid": "7", "n": 2}) == {"id": "7", "x": 0.5}
    assert safe(1, {"qid": "8", "n": 0})["error"].startswith("malformed record: ZeroDivisionError")
    assert safe(2, {"qid": None, "bad": "sample"}) == {
        "id": "row2",
        "_index": 2,
        "error": "record has no image",
    }
    assert safe_convert(convert, row_id(None))(5, "not a dict")["id"] == "5"


def test_check_image_files(tmp_path):
    ok = {"id": "1"}
    gone = {"id": "2", "error": f"{loading.MISSING_IMAGE}: {tmp_path}/b.png"}
    assert check_image_files([ok], tmp_path, "t") is None
    assert "1 of 2 image files are missing" in check_image_files([ok, gone], tmp_path, "t")
    with pytest.raises(HarnessError, match="none of the 1 image files exist"):
        check_image_files([gone], tmp_path, "t")


@pytest.mark.parametrize("name", ["gqa", "okvqa", "chartqa", "docvqa", "infovqa", "ocrbench"])
def test_loaded_tasks_pickle_for_spawned_workers(name, tmp_path):
    """DataLoader workers started with 'spawn' (macOS, Windows) receive the task by pickle."""
    import pickle

    from harness.config import load_group
    from harness.demo.data import demo_dataset
    from harness.tasks import get_task_class

    cfg = load_group("task", name)
    cfg["dataset"] = demo_dataset(name, tmp_path, cfg["dataset"])
    task = get_task_class(name)(cfg)
    docs = task.docs()
    clone = pickle.loads(pickle.dumps(task))
    assert [d["id"] for d in clone.docs()] == [d["id"] for d in docs]
    assert clone.build_request(clone.docs()[1]).prompt == task.build_request(docs[1]).prompt
