"""Image-sharing benchmark: ``python -m harness.bench --sharing [overrides] [--scale 0.1]``.

Times the engine with and without ``share_images`` at the same batch size on three synthetic
sets built from a task's demo questions (POPE by default), at the benchmarks' own scale:

- ``pope``: ``--images`` (500) COCO-sized JPEG scenes × ``--per-image`` (18) questions each: POPE's
  shape (9,000 questions on 500 images);
- ``gqa``: ``--gqa-images`` (400) scenes with 15 to 45 questions each, ``--gqa-per-image`` (30) on
  average: GQA testdev-balanced's shape (12,578 questions on 398 images);
- ``single``: ``--single-images`` (1,000) scenes with one question each, where sharing has nothing
  to share and must cost nothing.

``--scale`` multiplies every set's number of images (0.1: a quick run; at 1, on 2 CPU cores, the
demo model takes about a minute per unshared POPE run). Per set and mode it reports wall time,
samples/s, encoder passes (images run through the encoder), LLM prefill tokens computed,
prefixes prefilled, the time split, and whether the answers are identical to the unshared
run's; and per round (sharing off and on timed back to back) the speed-up, so its range shows.
Answers are capped at ``--max-new-tokens`` (default 2: a real model answers POPE with
"Yes"/"No" and EOS; the random demo LM never says EOS and would otherwise always run to the
task's limit). Writes ``results/bench/sharing-<model>-<task>-<device>.json`` and ``.md``.
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


def spread(n_images: int, mean: int, seed: int = 0) -> list[int]:
    """Questions per image, from half to one and a half times ``mean`` (seeded), as GQA's vary.

    >>> counts = spread(400, 30)
    >>> min(counts) >= 15 and max(counts) <= 45 and 28 <= sum(counts) / 400 <= 32
    True
    """
    rng = random.Random(seed)
    lo, hi = max(1, mean - mean // 2), mean + mean // 2
    return [rng.randint(lo, hi) for _ in range(n_images)]


class ImageSet:
    """``per_image`` of a task's questions about each of ``n_images`` scenes (everything else
    delegated); ``per_image`` may be one count per image."""

    def __init__(
        self,
        task: TaskProtocol,
        name: str,
        n_images: int,
        per_image: int | Sequence[int],
        max_new_tokens: int | None,
    ):
        self.task, self.set_name, self.n_images = task, name, n_images
        self.counts = [int(per_image)] * n_images if isinstance(per_image, int) else list(per_image)
        if len(self.counts) != n_images:
            raise ValueError(f"{len(self.counts)} question counts for {n_images} images")
        self.per_image = round(sum(self.counts) / max(1, n_images), 2)
        self.max_new_tokens = max_new_tokens
        self._docs: list[dict[str, Any]] | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "task" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.task, name)

    def docs(self) -> list[dict[str, Any]]:
        if self._docs is None:
            base, self._docs = self.task.docs(), []
            k = 0
            for i, count in enumerate(self.counts):
                data = scene(100_000 * len(self.set_name) + i)
                for j in range(count):
                    doc = {key: v for key, v in base[k % len(base)].items() if key != "_index"}
                    k += 1
                    doc.update(
                        id=f"{self.set_name}-{i:05d}-{j:02d}",
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


def shaped_sets(
    task: TaskProtocol,
    scale: float = 1.0,
    n_images: int = 500,
    per_image: int = 18,
    gqa_images: int = 400,
    gqa_per_image: int = 30,
    single_images: int = 1000,
    max_new_tokens: int | None = 2,
) -> dict[str, ImageSet]:
    """The POPE-shaped, GQA-shaped and one-question-per-image sets, their images × ``scale``
    (at least one each; a set of 0 images is left out)."""

    def scaled(n: int) -> int:
        return max(1, round(n * scale)) if n > 0 else 0

    sets = {
        "pope": ImageSet(task, "pope", scaled(n_images), per_image, max_new_tokens),
        "gqa": ImageSet(
            task,
            "gqa",
            scaled(gqa_images),
            spread(scaled(gqa_images), gqa_per_image),
            max_new_tokens,
        ),
        "single": ImageSet(task, "single", scaled(single_images), 1, max_new_tokens),
    }
    return {k: v for k, v in sets.items() if v.n_images > 0}


def bench_sharing(
    overrides: Sequence[str],
    batch_sizes: Sequence[int],
    workers: int,
    repeat: int,
    n_images: int = 500,
    per_image: int = 18,
    single_images: int = 1000,
    max_new_tokens: int | None = 2,
    gqa_images: int = 400,
    gqa_per_image: int = 30,
    scale: float = 1.0,
) -> dict[str, Any]:
    _, enc, device, base_task, model, load_s = load(["task=pope", *overrides])
    from harness.models.mllm import MLLM

    if not model.can_share_images or not isinstance(model, MLLM):
        raise SystemExit("--sharing needs model=mllm (a model that shares image work)")
    t0 = time.perf_counter()
    sets = shaped_sets(
        base_task,
        scale,
        n_images,
        per_image,
        gqa_images,
        gqa_per_image,
        single_images,
        max_new_tokens,
    )
    for s in sets.values():
        s.docs()
    build_s = time.perf_counter() - t0
    measure(
        ImageSet(base_task, "warmup", 2, 2, max_new_tokens), model, device, 4, 0, True
    )  # allocator, kernels
    runs: dict[tuple[int, str, bool], list[dict[str, Any]]] = {}
    for r in range(repeat):  # rounds over every configuration, so load changes hit each alike
        for bs in batch_sizes:
            for name, task in sets.items():
                for share in (False, True):  # back to back: each round gives one ratio
                    runs.setdefault((bs, name, share), []).append(
                        measure(task, model, device, bs, workers, share)
                    )
                    print(
                        f"round {r + 1}/{repeat}: batch {bs}, {name} ({len(task.docs())} rows), "
                        f"sharing {'on' if share else 'off'}: "
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
            ratios = [
                a["wall"] / b["wall"] for a, b in zip(runs[bs, name, False], runs[bs, name, True])
            ]
            on["speedup_per_round"] = [round(x, 3) for x in ratios]
            on["answers_differ"] = sum(on["preds"].get(k) != v for k, v in off["preds"].items())
            checks[f"batch{bs}_{name}_speedup"] = on["speedup_vs_unshared"]
            checks[f"batch{bs}_{name}_speedup_range"] = [
                round(min(ratios), 3),
                round(max(ratios), 3),
            ]
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
        "scale": scale,
        "sets": {
            k: {
                "images": s.n_images,
                "questions_per_image": s.per_image,
                "questions": len(s.docs()),
            }
            for k, s in sets.items()
        },
        "build_seconds": round(build_s, 3),
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
        f"{k}: {v['images']} images × {v['questions_per_image']} question(s) = "
        f"{v.get('questions', '?')}"
        for k, v in result["sets"].items()
    )
    head = (
        f"# Image sharing: {result['model_label']}, questions of {result['task']} "
        f"({result['device']}, "
        f"{result['dtype']})\n\nscale {result.get('scale', 1)}: {sets}; max_new_tokens "
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
        "× per round",
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
            ", ".join(str(x) for x in r.get("speedup_per_round", [])) or "—",
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
