"""End to end through runner.run: oracle, replay, corrupt data, output-folder contents."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from harness.runner import run

RUN_FILES = ("config.yaml", "scores.json", "meta.json", "predictions/docvqa.jsonl")


def _run(compose_cfg, tmp_path, *overrides):
    out = tmp_path / "out"
    run(compose_cfg(f"output_dir={out}", "device=cpu", *overrides))
    return out


def test_oracle_scores_100_anls_and_writes_the_run_folder(compose_cfg, tmp_path, capsys):
    out = _run(compose_cfg, tmp_path, "task=docvqa", "model=oracle", "data=demo")
    for f in RUN_FILES:
        assert (out / f).is_file(), f
    scores = json.loads((out / "scores.json").read_text())
    d = scores["docvqa"]
    assert d["metric"] == "anls" and d["value"] == 100.0 and d["failed"] == 0 and d["n"] > 0
    assert d["protocol"] == "lmms-eval" and d["metrics"]["anls"] == 100.0
    meta = json.loads((out / "meta.json").read_text())
    for key in (
        "encoder",
        "fingerprints",
        "versions",
        "git_commit",
        "device",
        "dtype",
        "wall_time_s",
        "samples_per_second",
        "datasets",
        "protocols",
    ):
        assert key in meta, key
    assert meta["versions"]["torch"] and meta["device"] == "cpu" and meta["dtype"] == "fp32"
    lines = [json.loads(x) for x in (out / "predictions" / "docvqa.jsonl").read_text().splitlines()]
    assert len(lines) == d["n"]
    assert {"id", "prompt", "prediction", "answer", "score"} <= set(lines[0])
    assert (out / "table.md").is_file() and (out / "table.csv").is_file()
    assert "DocVQA" in capsys.readouterr().out


def test_replay_of_wrong_answers_scores_zero(compose_cfg, tmp_path):
    first = _run(compose_cfg, tmp_path / "a", "task=docvqa", "model=oracle", "data=demo")
    ids = [
        json.loads(x)["id"]
        for x in (first / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    preds = tmp_path / "wrong.jsonl"
    preds.write_text(
        "".join(json.dumps({"id": i, "prediction": "zzzzzzzzzzzz"}) + "\n" for i in ids)
    )
    out = _run(
        compose_cfg,
        tmp_path / "b",
        "task=docvqa",
        "model=replay",
        f"model.predictions={preds}",
        "data=demo",
    )
    d = json.loads((out / "scores.json").read_text())["docvqa"]
    assert d["value"] == 0.0 and d["n"] == len(ids) and d["failed"] == 0


def test_limit_evaluates_the_first_n(compose_cfg, tmp_path):
    out = _run(compose_cfg, tmp_path, "task=docvqa", "model=oracle", "data=demo", "limit=5")
    lines = (out / "predictions" / "docvqa.jsonl").read_text().splitlines()
    assert len(lines) == 5 and json.loads((out / "scores.json").read_text())["docvqa"]["n"] == 5


def _write_docvqa(folder, images):
    from datasets import Features, List, Value
    from datasets import Image as HFImage

    from harness.demo.hub import write_hub_dataset

    feats = Features(
        {
            "questionId": Value("string"),
            "question": Value("string"),
            "answers": List(Value("string")),
            "image": HFImage(),
        }
    )
    rows = [
        {"questionId": str(i), "question": f"q{i}?", "answers": [f"a{i}"], "image": img}
        for i, img in enumerate(images)
    ]
    write_hub_dataset(folder, {"DocVQA": {"validation": rows}}, feats)


def _png():
    buf = io.BytesIO()
    Image.new("RGB", (28, 28), "white").save(buf, "PNG")
    return {"bytes": buf.getvalue(), "path": None}


def test_corrupt_image_is_a_recorded_failed_sample_not_a_crash(compose_cfg, tmp_path):
    data = tmp_path / "docvqa_corrupt"
    _write_docvqa(
        data, [_png(), {"bytes": b"\x89PNG\r\n\x1a\nnot really a png", "path": None}, _png()]
    )
    out = _run(
        compose_cfg,
        tmp_path,
        "task=docvqa",
        "data=hub",
        f"task.dataset.path={data}",
        "model=mllm",
        "encoder=demo_clip_l",
    )
    d = json.loads((out / "scores.json").read_text())["docvqa"]
    assert (d["n"], d["failed"]) == (2, 1)
    assert any("failed sample" in w for w in d["warnings"])
    lines = [json.loads(x) for x in (out / "predictions" / "docvqa.jsonl").read_text().splitlines()]
    assert [x["id"] for x in lines] == ["0", "1", "2"]
    assert lines[1]["prediction"] is None and "decode" in lines[1]["failed"]
    assert lines[0]["prediction"] is not None and lines[2]["prediction"] is not None


def test_missing_dataset_folder_is_a_one_line_error(compose_cfg, tmp_path):
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="dataset folder not found"):
        _run(
            compose_cfg,
            tmp_path,
            "task=docvqa",
            "model=oracle",
            "data=hub",
            f"task.dataset.path={tmp_path / 'nope'}",
        )


def test_a_changed_dataset_in_the_same_output_folder_is_not_resumed(compose_cfg, tmp_path):
    """The resume key covers the dataset's fingerprint: new data under the same output_dir is
    evaluated afresh (the stale predictions are moved aside, not reused)."""
    data = tmp_path / "docvqa_local"
    _write_docvqa(data, [_png(), _png()])
    out = tmp_path / "out"
    args = (
        f"output_dir={out}",
        "device=cpu",
        "task=docvqa",
        "model=oracle",
        "data=hub",
        f"task.dataset.path={data}",
    )
    run(compose_cfg(*args))
    first = [
        json.loads(x)["answer"]
        for x in (out / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    assert first == [["a0"], ["a1"]]
    import shutil

    shutil.rmtree(data)
    from datasets import Features, List, Value
    from datasets import Image as HFImage

    from harness.demo.hub import write_hub_dataset

    feats = Features(
        {
            "questionId": Value("string"),
            "question": Value("string"),
            "answers": List(Value("string")),
            "image": HFImage(),
        }
    )
    write_hub_dataset(
        data,
        {
            "DocVQA": {
                "validation": [
                    {
                        "questionId": str(i),
                        "question": "q?",
                        "answers": [f"new{i}"],
                        "image": _png(),
                    }
                    for i in range(2)
                ]
            }
        },
        feats,
    )
    run(compose_cfg(*args))
    second = [
        json.loads(x)["answer"]
        for x in (out / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    assert second == [["new0"], ["new1"]]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["tasks"]["docvqa"]["resumed"] == 0 and meta["world_size"] == 1


@pytest.mark.parametrize(
    "override,needle",
    [
        ("batch_size=abc", "batch_size='abc'"),
        ("num_workers=-1", "num_workers"),
        ("limit=x", "limit"),
        ("data=local", "data.root"),
    ],
)
def test_bad_top_level_values_are_one_line_errors(cli, tmp_path, override, needle):
    code, _, err = cli(
        f"output_dir={tmp_path / 'out'}", "device=cpu", "model=oracle", "task=docvqa", override
    )
    assert code == 2 and needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_grid_replay_reads_one_predictions_file_per_encoder(compose_cfg, tmp_path):
    """model.predictions=/x/%encoder%.jsonl under a grid: one row per encoder, each its own file."""
    oracle = _run(compose_cfg, tmp_path / "o", "task=docvqa", "model=oracle", "data=demo")
    lines = [
        json.loads(x) for x in (oracle / "predictions" / "docvqa.jsonl").read_text().splitlines()
    ]
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "demo_clip_l.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "prediction": r["prediction"]}) + "\n" for r in lines)
    )
    (preds / "demo_siglip.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "prediction": "wrong answer"}) + "\n" for r in lines)
    )
    out = tmp_path / "grid"
    run(
        compose_cfg(
            f"output_dir={out}",
            "device=cpu",
            "task=docvqa",
            "data=demo",
            "model=replay",
            f"model.predictions={preds}/%encoder%.jsonl",
            "encoder.grid=[demo_clip_l,demo_siglip]",
        )
    )
    clip = json.loads((out / "demo_clip_l" / "scores.json").read_text())["docvqa"]["value"]
    siglip = json.loads((out / "demo_siglip" / "scores.json").read_text())["docvqa"]["value"]
    assert (clip, siglip) == (100.0, 0.0)
