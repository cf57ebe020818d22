"""Helpers for the task tests: tiny datasets written in the real on-disk layouts (hub parquet
folders, original release folders), and running a task end to end through the engine."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from harness.demo.hub import png_bytes, write_hub_dataset
from harness.engine import EngineSettings, run_task
from harness.models.oracle import OracleModel

CORRUPT = {"bytes": b"this is not an image", "path": None}


def png(colour: str = "white") -> dict:
    """A hub image cell holding a tiny PNG."""
    return png_bytes(Image.new("RGB", (8, 8), colour))


def write_png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), "white").save(path)
    return path


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def write_hub(folder: Path, configs: dict, features) -> Path:
    return write_hub_dataset(folder, configs, features)


def run_oracle(task, run_dir: Path) -> list[dict]:
    """Every sample through the engine with the oracle model; the per-sample records."""
    return list(run_task(task, OracleModel(), run_dir, EngineSettings(progress=False)).records)


def oracle_metrics(task) -> dict:
    """``aggregate`` over records whose prediction is each document's reference answer."""
    records = []
    for doc in task.docs():
        req, answer = task.build_request(doc), task.reference(doc)
        records.append(
            {"id": doc["id"], "prompt": req.prompt, "prediction": answer, **task.score(doc, answer)}
        )
    return task.aggregate(records)
