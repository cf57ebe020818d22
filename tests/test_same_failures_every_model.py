"""Item 6 of issue 11: the oracle and replay decode and validate every sample's inputs as the MLLM
path does, so ``n`` and ``failed`` agree across ``model=mllm|oracle|replay`` on the same data."""

from __future__ import annotations

import io
import json

from PIL import Image

from harness.runner import run


def _png(colour: str = "white") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (28, 28), colour).save(buf, "PNG")
    return buf.getvalue()


def write_broken_docvqa(folder):
    """DocVQA's hub layout: two good records and four broken ones (a truncated PNG, a file that is
    not an image, a null question, null answers)."""
    from datasets import Features, List, Value
    from datasets import Image as HFImage

    from harness.demo.hub import write_hub_dataset

    good = _png()
    cells = {
        "ok1": good,
        "truncated": _png("red")[:60],
        "not_image": b"%PDF-1.4 not an image",
        "no_question": good,
        "no_answers": good,
        "ok2": _png("blue"),
    }
    rows = [
        {
            "questionId": qid,
            "question": None if qid == "no_question" else f"What is {qid}?",
            "answers": None if qid == "no_answers" else [f"answer {qid}"],
            "image": {"bytes": data, "path": None},
        }
        for qid, data in cells.items()
    ]
    feats = Features(
        {
            "questionId": Value("string"),
            "question": Value("string"),
            "answers": List(Value("string")),
            "image": HFImage(),
        }
    )
    write_hub_dataset(folder, {"DocVQA": {"validation": rows}}, feats)
    return [r["questionId"] for r in rows]


def test_mllm_oracle_and_replay_fail_the_same_samples(compose_cfg, tmp_path):
    data = tmp_path / "docvqa_broken"
    ids = write_broken_docvqa(data)
    preds = tmp_path / "preds.jsonl"
    lines = [json.dumps({"id": i, "prediction": f"answer {i}"}) + "\n" for i in ids]
    preds.write_text("".join(lines))
    models = {
        "mllm": ("model=mllm", "encoder=demo_clip_l"),
        "oracle": ("model=oracle",),
        "replay": ("model=replay", f"model.predictions={preds}"),
    }
    seen = {}
    for name, args in models.items():
        out = tmp_path / name
        run(
            compose_cfg(
                f"output_dir={out}",
                "device=cpu",
                "task=docvqa",
                "data=hub",
                f"task.dataset.path={data}",
                "num_workers=0",
                *args,
            )
        )
        scores = json.loads((out / "scores.json").read_text())["docvqa"]
        text = (out / "predictions" / "docvqa.jsonl").read_text()
        lines = [json.loads(x) for x in text.splitlines()]
        failed = {x["id"]: x["failed"] for x in lines if x.get("failed")}
        seen[name] = (scores["n"], scores["failed"], sorted(failed))
        assert set(failed) == {"truncated", "not_image", "no_question", "no_answers"}, name
        assert "decode" in failed["truncated"] and "truncated" in failed["truncated"], failed
        assert "decode" in failed["not_image"], failed
        assert "question" in failed["no_question"] and "answers" in failed["no_answers"], failed
    assert seen["mllm"] == seen["oracle"] == seen["replay"] == (2, 4, sorted(seen["oracle"][2]))
