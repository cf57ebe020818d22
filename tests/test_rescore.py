"""python -m harness.rescore: a finished run's predictions scored again under another protocol
equal a fresh run under that protocol, written beside the original, which is left untouched."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from replay_files import demo_task, write_lmms_eval, write_native

from harness.errors import HarnessError
from harness.rescore import main, read_task_config, rescore
from harness.runner import run


def _near_miss(task: str, doc: dict) -> str:
    """An answer the protocols disagree on: a one-letter typo (DocVQA: ANLS between 0.5 and 1),
    an upper-cased answer with an exclamation mark (GQA)."""
    if task == "docvqa":
        return doc["answers"][0] + "x"
    return str(doc["answer"]).upper() + "!"


def _replay_run(compose_cfg, out: Path, task: str, preds: Path, *extra: str) -> Path:
    run(
        compose_cfg(
            f"output_dir={out}",
            "device=cpu",
            f"task={task}",
            "data=demo",
            "model=replay",
            f"model.predictions={preds}",
            *extra,
        )
    )
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "rescored" not in p.parts
    }


@pytest.mark.parametrize(
    "task,protocol,canonical", [("docvqa", "paper", "lmms-eval-0.2"), ("gqa", "llava", "llava")]
)
def test_rescored_equals_a_fresh_run_under_that_protocol(
    compose_cfg, tmp_path, cache_dir, task, protocol, canonical
):
    docs = list(demo_task(cache_dir, task).docs())
    answers = {
        d["id"]: (_near_miss(task, d) if i % 2 else str(d.get("answers", [d.get("answer")])[0]))
        for i, d in enumerate(docs)
    }
    preds = write_lmms_eval(tmp_path / f"x_samples_{task}.jsonl", docs, answers)  # lmms-eval's log
    first = _replay_run(compose_cfg, tmp_path / "first", task, preds)
    before = _digests(first)
    assert main([str(first), f"protocol={protocol}"]) == 0
    assert _digests(first) == before  # nothing of the original run was written
    fresh = _replay_run(compose_cfg, tmp_path / "fresh", task, preds, f"protocol={protocol}")
    got = json.loads((first / "rescored" / canonical / "scores.json").read_text())[task]
    want = json.loads((fresh / "scores.json").read_text())[task]
    old = json.loads((first / "scores.json").read_text())[task]
    assert got["protocol"] == want["protocol"] == canonical and old["protocol"] == "lmms-eval"
    assert got["value"] == want["value"] and got["metrics"] == want["metrics"]
    assert got["value"] != old["value"]  # the protocols disagree on these answers
    assert got["rescored_from"] == {
        "protocol": "lmms-eval",
        "version": old["version"],
        "value": old["value"],
    }
    rescored = [
        json.loads(x)
        for x in (first / "rescored" / canonical / "predictions" / f"{task}.jsonl")
        .read_text()
        .splitlines()
    ]
    fresh_recs = [
        json.loads(x) for x in (fresh / "predictions" / f"{task}.jsonl").read_text().splitlines()
    ]
    assert [r["score"] for r in rescored] == [r["score"] for r in fresh_recs]
    meta = json.loads((first / "rescored" / canonical / "meta.json").read_text())
    assert (
        meta["protocols"][task]["protocol"] == canonical
        and meta["rescored"]["protocol"] == canonical
    )


def test_a_grid_folder_is_rescored_run_by_run_with_a_table(compose_cfg, tmp_path, cache_dir):
    docs = list(demo_task(cache_dir).docs())
    files = tmp_path / "preds"
    files.mkdir()
    write_native(files / "demo_clip_l.jsonl", {d["id"]: d["answers"][0] for d in docs})
    write_native(files / "demo_siglip.jsonl", {d["id"]: d["answers"][0] + "x" for d in docs[:10]})
    grid = tmp_path / "grid"
    run(
        compose_cfg(
            f"output_dir={grid}",
            "device=cpu",
            "task=docvqa",
            "data=demo",
            "model=replay",
            f"model.predictions={files}/%encoder%.jsonl",
            "encoder.grid=[demo_clip_l,demo_siglip]",
        )
    )
    done = rescore([str(grid), "protocol=paper", "task=docvqa"])
    top = grid / "rescored" / "lmms-eval-0.2"
    assert done == [top / "demo_clip_l", top / "demo_siglip"]
    for enc in ("demo_clip_l", "demo_siglip"):
        entry = json.loads((top / enc / "scores.json").read_text())["docvqa"]
        orig = json.loads((grid / enc / "scores.json").read_text())["docvqa"]
        assert entry["n"] == orig["n"] and entry["failed"] == orig["failed"]  # failed stay failed
    assert (top / "table.md").is_file() and "DocVQA" in (top / "table.md").read_text()


def test_read_task_config_takes_the_dataset_the_run_read(compose_cfg, tmp_path, cache_dir):
    docs = list(demo_task(cache_dir).docs())
    out = _replay_run(
        compose_cfg,
        tmp_path / "r",
        "docvqa",
        write_native(tmp_path / "p.jsonl", {d["id"]: "a" for d in docs}),
    )
    cfg = read_task_config(out, "docvqa")
    meta = json.loads((out / "meta.json").read_text())
    assert cfg["name"] == "docvqa" and cfg["dataset"]["path"] == meta["datasets"]["docvqa"]["path"]
    assert cfg["dataset"]["demo"] is True


def test_errors_are_one_line(compose_cfg, tmp_path, cache_dir, capsys):
    docs = list(demo_task(cache_dir).docs())
    out = _replay_run(
        compose_cfg,
        tmp_path / "r",
        "docvqa",
        write_native(tmp_path / "p.jsonl", {d["id"]: "a" for d in docs}),
    )
    with pytest.raises(HarnessError, match="usage: python -m harness.rescore"):
        rescore([str(out)])
    with pytest.raises(HarnessError, match="no predictions for task.s. gqa"):
        rescore([str(out), "protocol=paper", "task=gqa"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="not a run folder"):
        rescore([str(tmp_path / "empty"), "protocol=paper"])
    pred = out / "predictions" / "docvqa.jsonl"
    lines = pred.read_text().splitlines()
    pred.write_text(
        "\n".join(lines[:2] + [json.dumps({"id": "nope", "prediction": "a"})] + lines[2:]) + "\n"
    )
    capsys.readouterr()
    assert main([str(out), "protocol=paper"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{pred}:3: id 'nope' is not in the docvqa dataset" in err[0]
