"""Image-sharing benchmark: ``python -m harness.bench --sharing [overrides] [--batch-sizes 16]``.

Times the engine with and without ``share_images`` at the same batch size on two synthetic sets
built from a task's demo questions (POPE by default):

- ``grouped``: ``--images`` (30) COCO-sized JPEG scenes x ``--per-image`` (18) questions each, the
  shape of POPE (9,000 questions on 500 images) and GQA (12,578 on 398);
- ``single``: ``--single-images`` (540, as many questions) scenes with one question each, where
  sharing has nothing to share and must cost nothing.

Per set and mode it reports wall time, samples/s, encoder passes (images run through the
encoder), LLM prefill tokens computed, prefixes prefilled, the time split, and whether the
answers are identical to the unshared run's. Answers are capped at ``--max-new-tokens`` (default
2: a real model answers POPE with "Yes"/"No" and EOS; the random demo LM never says EOS and would
otherwise always run to the task's limit). Writes
``results/bench/sharing-<model>-<task>-<device>.json`` and ``.md``.
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image, ImageDraw

from harness.bench_tools import engine, load, reset
from harness.contracts import TaskProtocol
from harness.types import GenerationSettings, ImageRef, Request

if TYPE_CHECKING:
    from harness.device import DeviceSpec
    from harness.models.mllm import MLLM

SIZES = ((640, 480), (480, 640), (640, 427), (500, 375), (640, 512))  # typical COCO val2014 sizes
COUNTERS = (
    "images_encoded",
    "prefill_tokens",
    "prefixes_computed",
    "shared_prefix_rows",
    "generated_tokens",
)


def scene(seed: int) -> bytes:
    """A COCO-sized JPEG of random shapes (deterministic in ``seed``)."""
    rng = random.Random(seed)
    w, h = SIZES[seed % len(SIZES)]
    img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x, y, s = rng.randrange(w), rng.randrange(h), rng.randrange(20, 220)
        box, fill = (
            (x, y, x + s, y + rng.randrange(20, 220)),
            tuple(rng.randrange(256) for _ in range(3)),
        )
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class ImageSet:
    """``per_image`` of a task's questions about each of ``n_images`` scenes (everything else
    delegated)."""

    def __init__(
        self,
        task: TaskProtocol,
        name: str,
        n_images: int,
        per_image: int,
        max_new_tokens: int | None,
    ):
        self.task, self.set_name, self.n_images, self.per_image = task, name, n_images, per_image
        self.max_new_tokens = max_new_tokens
        self._docs: list[dict[str, Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "task" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.task, name)

    def docs(self) -> list[dict[str, Any]]:
        if self._docs is None:
            base, self._docs = self.task.docs(), []
            for i in range(self.n_images):
                data = scene(1000 * len(self.set_name) + i)
                for j in range(self.per_image):
                    doc = {
                        k: v
                        for k, v in base[(i * self.per_image + j) % len(base)].items()
                        if k != "_index"
                    }
                    doc.update(
                        id=f"{self.set_name}-{i:03d}-{j:02d}",
                        images=[ImageRef(data=data, key=f"{self.set_name}-{i}")],
                    )
                    self._docs.append(doc)
        return self._docs

    def generation(self) -> GenerationSettings:
        g = self.task.generation()
        return g if self.max_new_tokens is None else GenerationSettings(self.max_new_tokens, g.stop)

    def build_request(self, doc: dict[str, Any]) -> Request:
        request = self.task.build_request(doc)
        request.gen = self.generation()
        return request


def measure(
    task: TaskProtocol, model: MLLM, device: DeviceSpec, batch_size: int, workers: int, share: bool
) -> dict[str, Any]:
    """One engine run from a cold start (no cached features, no kept prefix)."""
    model.share_images = share
    model.features.clear()
    model.sharer.carry = None
    reset(model, device)
    t0 = time.perf_counter()
    preds, engine_t = engine(task, model, batch_size, workers, share)
    return {
        "wall": time.perf_counter() - t0,
        "preds": preds,
        "t": dict(model.timings),
        "et": engine_t,
    }


def summarize(
    runs: list[dict[str, Any]], set_name: str, share: bool, n: int, images: int
) -> dict[str, Any]:
    run = sorted(runs, key=lambda r: r["wall"])[len(runs) // 2]
    t, et = run["t"], run["et"]
    split = {
        "data_wait": et.get("data_wait"),
        "preprocess_in_workers": t.get("preprocess"),
        "encode": t.get("encode"),
        "prefill": t.get("prefill"),
        "decode": t.get("decode"),
        "model": et.get("model"),
    }
    return {
        "set": set_name,
        "sharing": "on" if share else "off",
        "samples": n,
        "images": images,
        "batch_size": et.get("batch_size"),
        "wall_s": round(run["wall"], 4),
        "walls_s": [round(r["wall"], 4) for r in runs],
        "samples_per_s": round(n / run["wall"], 2),
        **{k: int(t.get(k, 0)) for k in COUNTERS},
        "split_s": {k: round(v, 4) for k, v in split.items() if v is not None},
        "preds": run["preds"],
    }


def bench_sharing(
    overrides: Sequence[str],
    batch_sizes: Sequence[int],
    workers: int,
    repeat: int,
    n_images: int = 30,
    per_image: int = 18,
    single_images: int = 540,
    max_new_tokens: int | None = 2,
) -> dict[str, Any]:
    _, enc, device, base_task, model, load_s = load(["task=pope", *overrides])
    from harness.models.mllm import MLLM

    if not model.can_share_images or not isinstance(model, MLLM):
        raise SystemExit("--sharing needs model=mllm (a model that shares image work)")
    sets = {
        "grouped": ImageSet(base_task, "grouped", n_images, per_image, max_new_tokens),
        "single": ImageSet(base_task, "single", single_images, 1, max_new_tokens),
    }
    for s in sets.values():
        s.docs()
    measure(
        ImageSet(base_task, "warmup", 2, 2, max_new_tokens), model, device, 4, 0, True
    )  # allocator, kernels
    runs: dict[tuple[int, str, bool], list[dict[str, Any]]] = {}
    for r in range(repeat):  # rounds over every configuration, so load changes hit each alike
        for bs in batch_sizes:
            for name, task in sets.items():
                for share in (False, True):
                    runs.setdefault((bs, name, share), []).append(
                        measure(task, model, device, bs, workers, share)
                    )
                    print(
                        f"round {r + 1}/{repeat}: batch {bs}, {name}, sharing "
                        f"{'on' if share else 'off'}: "
                        f"{runs[bs, name, share][-1]['wall']:.2f}s",
                        file=sys.stderr,
                        flush=True,
                    )
    rows, checks = [], {}
    for bs in batch_sizes:
        for name, task in sets.items():
            off, on = (
                summarize(runs[bs, name, share], name, share, len(task.docs()), task.n_images)
                for share in (False, True)
            )
            on["speedup_vs_unshared"] = round(off["wall_s"] / on["wall_s"], 2)
            on["answers_differ"] = sum(on["preds"].get(k) != v for k, v in off["preds"].items())
            checks[f"batch{bs}_{name}_speedup"] = on["speedup_vs_unshared"]
            checks[f"batch{bs}_{name}_answers_differ"] = on["answers_differ"]
            rows += [off, on]
    for row in rows:
        row.pop("preds")
    return {
        "model": enc.get("name"),
        "model_label": enc.get("label"),
        "task": base_task.name,
        "device": str(device.torch_device),
        "dtype": device.dtype_name,
        "sets": {
            k: {"images": s.n_images, "questions_per_image": s.per_image} for k, s in sets.items()
        },
        "max_new_tokens": max_new_tokens,
        "repeat": repeat,
        "num_workers": workers,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "load_seconds": round(load_s, 3),
        "model_describe": model.describe(),
        "runs": rows,
        "checks": checks,
        "command": " ".join(["python -m harness.bench", *sys.argv[1:]]),
    }


def markdown(result: dict[str, Any]) -> str:
    sets = "; ".join(
        f"{k}: {v['images']} images × {v['questions_per_image']} question(s)"
        for k, v in result["sets"].items()
    )
    head = (
        f"# Image sharing: {result['model_label']}, questions of {result['task']} "
        f"({result['device']}, "
        f"{result['dtype']})\n\n{sets}; max_new_tokens "
        f"{result['max_new_tokens'] or 'as the task'}, {result['num_workers']} "
        f"DataLoader worker(s), {result['torch_threads']} torch threads on {result['cpu_count']} "
        "CPUs (load "
        f"average {result['load_average'][0]:.1f}); median of {result['repeat']} runs. Times in "
        "seconds.\n\n"
    )
    cols = [
        "set",
        "batch",
        "sharing",
        "wall s",
        "samples/s",
        "× unshared",
        "encoder passes",
        "prefill tokens",
        "prefixes prefilled",
        "data wait",
        "preprocess (workers)",
        "encode",
        "prefill",
        "decode",
        "answers ≠ unshared",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["runs"]:
        s = r["split_s"]
        cells = [
            r["set"],
            r["batch_size"],
            r["sharing"],
            r["wall_s"],
            r["samples_per_s"],
            r.get("speedup_vs_unshared", "—"),
            r["images_encoded"],
            r["prefill_tokens"],
            r["prefixes_computed"],
            s.get("data_wait"),
            s.get("preprocess_in_workers"),
            s.get("encode"),
            s.get("prefill"),
            s.get("decode"),
            r.get("answers_differ", "—"),
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    notes = [
        "",
        (
            "- encoder passes: images run through the encoder; prefill tokens: positions computed "
            "by the LLM's prefill (pads excluded); prefixes prefilled: image prefixes computed "
            "once for their group (at batch 1 the first question of each image prefills its whole "
            "prompt instead, and its prefix is kept for the next ones)."
        ),
        (
            "- preprocess (workers) is worker time (decoding, resizing), overlapped with the "
            "model; with sharing each worker decodes an image once for all its questions."
        ),
    ]
    return head + "\n".join(lines + notes) + "\n"
