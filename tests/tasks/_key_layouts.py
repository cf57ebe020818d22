"""Small datasets for the dataset-key tests, in each benchmark's real layouts, whose variants
differ: every question starts with a tag ("A", "B", ...) and variants hold different numbers of
rows (so row-index ids differ too). Hub variants are the demo sets' own parquet tables, retagged."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from PIL import Image

from harness.demo.hub import write_hub_dataset
from harness.metrics.mme import SUBTASKS
from harness.tasks.base import dataset_defaults

_DEMO: dict[str, dict] = {}


def task_config(task: str, /, **dataset) -> dict:
    """A task config whose dataset section is the task's YAML defaults with ``dataset`` applied."""
    return {"dataset": {**dataset_defaults(task), **dataset}}


def _demo_tables(task: str, scratch: Path) -> dict:
    """{config: (features, rows)} of the task's demo set (built once per test session)."""
    if task not in _DEMO:
        import pyarrow.parquet as pq
        from datasets import Features

        folder = scratch / f"demo-{task}"
        importlib.import_module(f"harness.demo.sets.{task}").build(folder, 0)
        tables = {}
        for shard in sorted(folder.glob("*/*.parquet")):
            table = pq.read_table(shard)
            feats = Features.from_arrow_schema(table.schema)
            tables[shard.parent.name] = (feats, table.to_pylist())
        _DEMO[task] = tables
    return _DEMO[task]


def hub_rows(task: str, scratch: Path, tag: str, n: int) -> dict:
    """{demo config: (features, rows)}: the first ``n`` rows of each question table tagged; GQA's
    image table whole."""
    out = {}
    for config, (feats, rows) in _demo_tables(task, scratch).items():
        if "question" in feats:
            rows = [dict(r, question=f"{tag} {r['question']}") for r in rows[:n]]
        out[config] = (feats, rows)
    return out


def write_hub(task: str, folder: Path, scratch: Path, variants: dict) -> Path:
    """``variants``: {(config, split): (tag, n)}; each config/split of the hub layout holds the
    demo's question table retagged (GQA: ``images_config`` keeps the image table)."""
    configs: dict = {}
    feats: dict = {}
    for (config, split), (tag, n) in variants.items():
        for demo_config, (f, rows) in hub_rows(task, scratch, tag, n).items():
            name = config if "question" in f else demo_config
            configs.setdefault(name, {})[split] = rows
            feats[name] = f
    return write_hub_dataset(folder, configs, feats)


def png(path: Path, colour: str = "white") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path, format="PNG")
    return path.name


def dump(path: Path, obj, lines: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(o) + "\n" for o in obj) if lines else json.dumps(obj)
    path.write_text(text, encoding="utf-8")


# ---- original release layouts: writer(root, tag, split, n, **names) -----------------------------
def gqa(root, tag, split="testdev", n=2, annotations=None, image_dir="images"):
    qs = {
        f"{tag}{i}": {"imageId": f"img{i}", "question": f"{tag} q{i}?", "answer": "red"}
        for i in range(n)
    }
    dump(root / (annotations or f"{split}_balanced_questions.json"), qs)
    for i in range(n):
        png(root / image_dir / f"img{i}.jpg")


def okvqa(root, tag, split="val2014", n=2, annotations=None, image_dir=None):
    qs = [{"question_id": f"{tag}{i}", "image_id": i, "question": f"{tag} q{i}?"} for i in range(n)]
    anns = [{"question_id": f"{tag}{i}", "answers": [{"answer": "yes"}] * 10} for i in range(n)]
    dump(root / f"OpenEnded_mscoco_{split}_questions.json", {"questions": qs})
    dump(root / (annotations or f"mscoco_{split}_annotations.json"), {"annotations": anns})
    for i in range(n):
        png(root / (image_dir or split) / f"COCO_{split}_{i:012d}.jpg")


def chartqa(root, tag, split="test", n=2, **_):
    for kind in ("human", "augmented"):
        recs = [{"imgname": f"c{i}.png", "query": f"{tag} q{i}?", "label": "5"} for i in range(n)]
        dump(root / split / f"{split}_{kind}.json", recs)
    for i in range(n):
        png(root / split / "png" / f"c{i}.png")


def docvqa(root, tag, split="val", n=2, annotations=None, **_):
    recs = [
        {
            "questionId": f"{tag}{i}",
            "question": f"{tag} q{i}?",
            "answers": ["x"],
            "image": f"documents/d{i}.png",
        }
        for i in range(n)
    ]
    dump(root / (annotations or f"{split}_v1.0.json"), {"data": recs})
    for i in range(n):
        png(root / "documents" / f"d{i}.png")


def infovqa(root, tag, split="val", n=2, annotations=None, **_):
    recs = [
        {
            "questionId": f"{tag}{i}",
            "question": f"{tag} q{i}?",
            "answers": ["x"],
            "image_local_name": f"i{i}.png",
        }
        for i in range(n)
    ]
    dump(root / (annotations or f"infographicsVQA_{split}_v1.0_withQT.json"), {"data": recs})
    for i in range(n):
        png(root / "infographicsvqa_images" / f"i{i}.png")


def ocrbench(root, tag, split=None, n=2, annotations=None, **_):
    recs = [
        {
            "dataset_name": "IIIT5K",
            "image_path": f"./IIIT5K/{i}.png",
            "question": f"{tag} q{i}?",
            "answers": ["x"],
            "type": "Regular Text Recognition",
        }
        for i in range(n)
    ]
    dump(root / (annotations or "OCRBench.json"), recs)
    for i in range(n):
        png(root / "OCRBench_Images" / "IIIT5K" / f"{i}.png")


def pope(root, tag, split=None, n=2, image_dir="val2014", **_):
    for s in ("adversarial", "popular", "random"):
        recs = [
            {
                "question_id": i + 1,
                "image": f"COCO_{i}.jpg",
                "text": f"{tag} {s} q{i}?",
                "label": "yes",
            }
            for i in range(n)
        ]
        dump(root / f"coco_pope_{s}.json", recs, lines=True)
    for i in range(n):
        png(root / image_dir / f"COCO_{i}.jpg")


def mme(root, tag, split=None, n=1, **_):
    for sub in SUBTASKS:
        for i in range(n):
            png(root / sub / f"{i}.png")
            (root / sub / f"{i}.txt").write_text(f"{tag} {sub} q{i}?\tYes\n{tag} {sub} r{i}?\tNo\n")


def seed(root, tag, split=None, n=2, annotations=None, image_dir="SEED-Bench-image"):
    qs = [
        {
            "question_id": f"{tag}{i}",
            "data_id": f"{i}.jpg",
            "data_type": "image",
            "question": f"{tag} q{i}?",
            "choice_a": "a",
            "choice_b": "b",
            "choice_c": "c",
            "choice_d": "d",
            "answer": "A",
            "question_type_id": 1,
        }
        for i in range(n)
    ]
    dump(root / (annotations or "SEED-Bench.json"), {"questions": qs})
    for i in range(n):
        png(root / image_dir / f"{i}.jpg")


def mathvista(root, tag, split="testmini", n=2, **_):
    probs = {
        f"{tag}{i}": {
            "pid": f"{tag}{i}",
            "question": f"{tag} q{i}?",
            "image": f"images/{i}.png",
            "choices": None,
            "answer": "1",
            "question_type": "free_form",
            "answer_type": "integer",
            "precision": None,
        }
        for i in range(n)
    }
    dump(root / f"{split}.json", probs)
    for i in range(n):
        png(root / "images" / f"{i}.png")


ORIGINAL = {
    "gqa": gqa,
    "okvqa": okvqa,
    "chartqa": chartqa,
    "docvqa": docvqa,
    "infovqa": infovqa,
    "ocrbench": ocrbench,
    "pope": pope,
    "mme": mme,
    "seed": seed,
    "mathvista": mathvista,
}
