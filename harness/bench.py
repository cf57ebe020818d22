"""Throughput benchmark: ``python -m harness.bench [overrides] [--batch-sizes 1 4 16]``.

For one model, task and device it times a plain batch-1 loop over the model (the LLaVA-script
way: build, preprocess and generate one request at a time in one process) and the engine at
each batch size (sorted batches, DataLoader workers), and reports samples/s, generated
tokens/s, the time split (data wait, workers' preprocessing, encoder, LLM prefill, decode,
harness overhead), peak memory, the speed-up over the plain loop, and whether the answers are
identical to the plain loop's. Overrides are the harness's own (``encoder=demo_siglip
task=gqa device=cuda``; defaults: the demo CLIP-L MLLM on DocVQA's demo set, on CPU).

Beside each engine batch size it times the *compute floor*: the bare model (encode, prefill,
decode called directly, :func:`harness.bench_tools.floor`) on exactly the batches that engine
run handed the model (same order, sizes and rows, inputs prepared beforehand, no data loading),
and reports the engine's overhead over it, ``(engine wall - floor wall) / floor wall``, and
whether the floor's answers equal the engine's. It does so on two sets: ``task``, the task's
samples as its data gives them (questions about one image share it where ``--share-images``
says so; the demo DocVQA set asks 4 questions about each of 8 images), and ``generated``:
``--shared-images`` generated scenes × ``--per-image`` of the task's questions, sharing on
(``--per-image 1``: every image distinct; 18: POPE's shape). Each row gives the images its run
encoded.

Demo sets are small, so their samples are repeated ``--copies`` times (ids suffixed ``#k``) to
time the steady state. Writes ``results/bench/<name>.json`` and ``<name>.md``.

``--tiny-llava [DIR]`` benchmarks the tiny random LLaVA-HF checkpoint
(:mod:`harness.demo.tiny_llava`: CLIP at 336 px, 576 image tokens, a small Llama, fp32), built
once into DIR (default: ``<--out>/tiny-llava/v<N>-seed<S>``): the same as writing
``encoder=clip_l model.checkpoint=DIR`` (the tower is too small to be recognised as CLIP-L's, so
the encoder is named). Outputs are then named ``tiny-llava-...``.

``--sharing`` times image sharing instead (with and without ``share_images`` on POPE- and
GQA-shaped sets and a one-question-per-image set, ``--scale`` for quick runs): see
:mod:`harness.bench_sharing`.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.bench_tools import (
    DECODE_COUNTERS,
    DecodeCounter,
    capture,
    engine,
    floor,
    load,
    peak_mib,
    reset,
)
from harness.contracts import TaskProtocol

if TYPE_CHECKING:
    from harness.bench_tools import Batches
    from harness.device import DeviceSpec
    from harness.models.base import Model
    from harness.models.mllm import MLLM

FORWARD = ("encode", "prefill", "decode")
ENGINE_PHASES = ("plan", "start", "data_wait", "model", "record", "stop", "drain", "finish")
"""The engine's timed phases (its ``TaskResult.timings``), reported as they are."""

Preds = dict[str, str | None]
Measured = Callable[[], tuple[Preds, dict[str, Any]]]
"""One timed configuration: its predictions by id and the engine's time split."""
Timed = tuple[float, Preds, dict[str, Any], dict[str, Any], int]
"""(wall seconds, predictions, model timings, engine timings, decode rows) of one run."""


class _Repeated(Sequence[dict[str, Any]]):
    def __init__(self, docs: Sequence[dict[str, Any]], copies: int):
        self.docs, self.copies = docs, copies

    def __len__(self) -> int:
        return len(self.docs) * self.copies

    def __getitem__(self, i: int) -> dict[str, Any]:  # type: ignore[override]  # no slices
        if not 0 <= i < len(self):
            raise IndexError(i)
        n = len(self.docs)
        doc = dict(self.docs[i % n])
        doc["id"] = f"{doc['id']}#{i // n}"
        return doc


class Copies:
    """A task whose samples are repeated ``copies`` times (everything else delegated)."""

    def __init__(self, task: TaskProtocol, copies: int):
        self.task, self.copies = task, max(1, int(copies))
        self._docs: _Repeated | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.task, name)

    def docs(self) -> _Repeated:
        if self._docs is None:
            self._docs = _Repeated(self.task.docs(), self.copies)
        return self._docs


# ---- measurements -----------------------------------------------------------------------------
def plain_loop(task: TaskProtocol, model: Model) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The LLaVA-script way: one request at a time, built, preprocessed and generated in-process."""
    preds: dict[str, str | None] = {}
    in_model = 0.0
    for doc in task.docs():
        request = task.build_request(doc)
        t0 = time.perf_counter()
        out = model.generate([request])[0]
        in_model += time.perf_counter() - t0
        preds[str(doc["id"])] = out if isinstance(out, str) else None
    return preds, {"model": in_model}


def _timed(fn: Measured, model: Model, device: DeviceSpec) -> Timed:
    reset(model, device)
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t0 = time.perf_counter()
    preds, engine_t = fn()
    wall = time.perf_counter() - t0
    engine_t = {
        **engine_t,
        "minor_faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0,
    }
    rows = DECODE_COUNTERS[model].rows if model in DECODE_COUNTERS else 0
    return wall, preds, dict(model.timings), engine_t, rows


def summarize(
    label: str, runs: list[Timed], device: DeviceSpec, n: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The median run (by wall time) of one configuration and its time split.

    ``harness`` is the wall time outside the model's generate call (planning, waiting for data,
    scoring, writing); ``model_other`` is the model's own time outside encoder, prefill and
    decode (embedding splice, detokenising).
    """
    wall, preds, t, et, rows = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
    forward = sum(t.get(k, 0.0) for k in FORWARD)
    in_model = et.get("model", forward)
    split = {
        "plan": et.get("plan"),
        "data_wait": et.get("data_wait"),
        "preprocess_in_workers" if et.get("workers") else "preprocess": t.get("preprocess"),
        **{k: t.get(k) for k in FORWARD},
        "model_other": in_model - forward,
        "harness": wall - in_model,
    }
    tokens = int(t.get("generated_tokens", 0))
    engine_phases = {  # the engine's own clock (harness.engine.core): where its wall goes
        k: round(float(et[k]), 4) for k in ENGINE_PHASES if isinstance(et.get(k), (int, float))
    }
    row = {
        "config": label,
        "wall_s": round(wall, 4),
        "walls_s": [round(r[0], 4) for r in runs],
        "samples_per_s": round(n / wall, 2),
        "tokens_per_s": round(tokens / wall, 1),
        "generated_tokens": tokens,
        "prefill_tokens": int(t.get("prefill_tokens", 0)),
        "images_encoded": int(t.get("images_encoded", 0)),
        "prefixes_computed": int(t.get("prefixes_computed", 0)),
        "decode_rows_per_token": round(rows / tokens, 3) if rows and tokens else None,
        "split_s": {k: round(v, 4) for k, v in split.items() if v is not None},
        "engine_phases_s": engine_phases,
        "harness_overhead_fraction": round(split["harness"] / wall, 4),
        "outside_forward_fraction": round((wall - forward) / wall, 4),
        "peak_memory_mib": peak_mib(device),
        "minor_page_faults": et.get("minor_faults"),  # this process only, not its workers
        "batch_size": et.get("batch_size", 1),
        "model_calls": et.get("model_calls", n),
    }
    return row, preds


def _floor_fn(model: MLLM, batches: Batches, share: bool) -> Measured:
    def run() -> tuple[Preds, dict[str, Any]]:
        preds, t = floor(model, batches, share)
        return preds, {"model": t["wall"], "batch_size": max(len(b) for b in batches)}

    return run


def _round_order(labels: list[str], pairs: list[tuple[str, str, str | None]], r: int) -> list[str]:
    """The configurations of round ``r`` in order: each engine run next to its floor, the floor
    second in even rounds and first in odd ones, so that neither gains from always running
    after the other (an allocator, caches and pages warmed by the run before).

    >>> pairs = [("task", "engine 16", "floor 16")]
    >>> _round_order(["plain", "engine 16", "floor 16"], pairs, 0)
    ['plain', 'engine 16', 'floor 16']
    >>> _round_order(["plain", "engine 16", "floor 16"], pairs, 1)
    ['plain', 'floor 16', 'engine 16']
    """
    if r % 2 == 0:
        return labels
    swap = {e: f for _, e, f in pairs if f is not None}
    swap.update({f: e for e, f in list(swap.items())})
    return [swap.get(label, label) for label in labels]


def with_floor(
    row: dict[str, Any],
    floor_row: dict[str, Any],
    preds: Preds,
    floor_preds: Preds,
    engine_walls: list[float],
    floor_walls: list[float],
) -> None:
    """Add the floor's figures to an engine row: its wall (median and each run), its time split,
    the engine's overhead over it ``(engine wall - floor wall) / floor wall`` from the medians
    and per round (engine and floor timed back to back), and the answers that differ."""
    fw = floor_row["wall_s"]
    row["floor_wall_s"] = fw
    row["floor_walls_s"] = floor_row["walls_s"]
    row["floor_split_s"] = {
        k: v for k, v in floor_row["split_s"].items() if k in (*FORWARD, "model_other")
    }
    row["overhead_vs_floor"] = round((row["wall_s"] - fw) / fw, 4) if fw > 0 else None
    per_round = [(e - f) / f for e, f in zip(engine_walls, floor_walls) if f > 0]
    row["overhead_vs_floor_range"] = (
        [round(min(per_round), 4), round(max(per_round), 4)] if per_round else None
    )
    # the median of the rounds' own overheads: each engine run against the floor run timed next
    # to it, so slow spells of a shared machine that span both cancel (the figure to read where
    # the runs' walls drift between rounds)
    row["overhead_vs_floor_paired"] = (
        round(sorted(per_round)[len(per_round) // 2], 4) if per_round else None
    )
    row["floor_differs"] = sum(preds.get(k) != v for k, v in floor_preds.items())
    row["floor_counts"] = {
        k: floor_row[k]
        for k in ("generated_tokens", "prefill_tokens", "images_encoded", "prefixes_computed")
    }
    row["floor_rows"] = len(floor_preds)
    row["floor_minor_page_faults"] = floor_row.get("minor_page_faults")


def bench(
    overrides: Sequence[str],
    batch_sizes: Sequence[int],
    workers: int,
    copies: int,
    repeat: int,
    share_images: bool = False,
    shared_images: int = 40,
    per_image: int = 18,
) -> dict[str, Any]:
    """Time the plain loop, the engine at each batch size and the compute floor beside each, on
    the task's samples (× ``copies``) and, for an MLLM with ``shared_images`` > 0, on a
    POPE-shaped set (``shared_images`` scenes × ``per_image`` questions, sharing on)."""
    from harness.bench_sharing import ImageSet
    from harness.models.mllm import MLLM

    _, enc, device, base_task, model, load_s = load(overrides)
    if model.can_share_images:  # copies repeat every image: sharing would time the cache
        model.share_images = share_images
    share = bool(model.share_images) if model.can_share_images else False
    llm = model.decode_module()
    if llm is not None:
        DECODE_COUNTERS[model] = DecodeCounter(llm)
    task = Copies(base_task, copies)
    n = len(task.docs())
    plain_loop(Copies(base_task, 1), model)  # warm-up: allocator, kernels, file cache
    mllm = model if isinstance(model, MLLM) else None
    sets: list[tuple[str, TaskProtocol, bool]] = [("task", task, share)]
    if mllm is not None and shared_images > 0:
        shaped = ImageSet(base_task, "generated", shared_images, per_image, None)
        sets.append(("generated", shaped, True))
    sizes = {name: len(t.docs()) for name, t, _ in sets}
    configs: dict[str, Measured] = {"plain batch-1 loop": lambda: plain_loop(task, model)}
    pairs: list[tuple[str, str, str | None]] = []  # (set, engine label, floor label)
    for name, t, sh in sets:
        for bs in batch_sizes:
            suffix = "" if name == "task" else ", generated set"
            label = f"engine batch {bs}{suffix}"
            configs[label] = functools.partial(engine, t, model, bs, workers, sh)
            floor_label = None
            if mllm is not None:  # the floor's inputs: the batches this engine run hands the model
                reset(model, device)
                _, batches = capture(t, mllm, bs, workers, sh)
                floor_label = f"floor batch {bs}{suffix}"
                configs[floor_label] = _floor_fn(mllm, batches, sh)
            pairs.append((name, label, floor_label))
    runs: dict[str, list[Timed]] = {k: [] for k in configs}
    for r in range(repeat):  # rounds over all configurations, so load changes hit each alike
        for label in _round_order(list(configs), pairs, r):
            runs[label].append(_timed(configs[label], model, device))
            print(
                f"round {r + 1}/{repeat}: {label}: {runs[label][-1][0]:.2f}s",
                file=sys.stderr,
                flush=True,
            )
    plain, ref = summarize("plain batch-1 loop", runs["plain batch-1 loop"], device, n)
    rows = [plain]
    checks: dict[str, Any] = {}
    for name, label, floor_label in pairs:
        row, preds = summarize(label, runs[label], device, sizes[name])
        row["set"] = name
        row["share_images"] = dict((s[0], s[2]) for s in sets)[name]
        if name == "task":
            row["speedup_vs_plain_loop"] = round(row["samples_per_s"] / plain["samples_per_s"], 2)
            row["differs_from_plain_loop"] = sum(preds.get(k) != v for k, v in ref.items())
        if floor_label is not None:
            floor_row, floor_preds = summarize(floor_label, runs[floor_label], device, sizes[name])
            with_floor(
                row,
                floor_row,
                preds,
                floor_preds,
                [x[0] for x in runs[label]],
                [x[0] for x in runs[floor_label]],
            )
            key = f"batch{row['batch_size']}_{name}"
            checks[f"overhead_vs_floor_{key}"] = row["overhead_vs_floor"]
            checks[f"floor_differs_{key}"] = row["floor_differs"]
        rows.append(row)
    by_bs = {r["batch_size"]: r for r in rows[1:] if r["set"] == "task"}
    if 1 in by_bs and 16 in by_bs:
        checks["batch16_over_batch1"] = round(
            by_bs[16]["samples_per_s"] / by_bs[1]["samples_per_s"], 2
        )
    if rows[1:]:
        checks["max_harness_overhead_fraction"] = max(
            r["harness_overhead_fraction"] for r in rows[1:]
        )
        checks["max_outside_forward_fraction"] = max(
            r["outside_forward_fraction"] for r in rows[1:]
        )
    return {
        "model": enc.get("name"),
        "model_label": enc.get("label"),
        "task": base_task.name,
        "device": str(device.torch_device),
        "dtype": device.dtype_name,
        "samples": n,
        "distinct_samples": len(base_task.docs()),
        "copies": copies,
        "sets": {
            name: {
                "samples": sizes[name],
                "share_images": sh,
                **(
                    {"images": t.n_images, "questions_per_image": t.per_image}
                    if isinstance(t, ImageSet)
                    else {}
                ),
            }
            for name, t, sh in sets
        },
        "repeat": repeat,
        "num_workers": workers,
        "share_images": share if model.can_share_images else None,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "load_seconds": round(load_s, 3),
        "max_new_tokens": base_task.generation().max_new_tokens,
        "model_describe": model.describe(),
        "runs": rows,
        "checks": checks,
        "command": " ".join(["python -m harness.bench", *sys.argv[1:]]),
    }


def tiny_llava_overrides(
    overrides: Sequence[str], folder: str | None, out: Path
) -> tuple[list[str], dict[str, Any]]:
    """The overrides that load the tiny LLaVA-HF checkpoint (built once into ``folder``, or
    under ``out`` when it is empty or None) exactly as a user's LLaVA-HF folder loads:
    ``encoder=clip_l model.checkpoint=FOLDER`` before the user's own. Overrides that would
    choose another model or encoder are refused (ConfigError naming the key). Also returns
    what to record: the folder, whether it was built now, and the builder's manifest."""
    from harness.demo import tiny_llava
    from harness.errors import ConfigError, HarnessError

    for arg in overrides:
        key = arg.lstrip("+~").split("=", 1)[0].strip()
        if key in ("model", "model.checkpoint", "encoder"):
            raise ConfigError(
                f"{arg}: --tiny-llava sets the model itself (encoder=clip_l "
                "model.checkpoint=<its folder>); drop one of them"
            )
    target = (
        Path(folder)
        if folder
        else out / "tiny-llava" / f"v{tiny_llava.VERSION}-seed{tiny_llava.SEED}"
    )
    try:
        path, manifest, built = tiny_llava.ensure(target)
    except HarnessError as exc:
        raise ConfigError(f"--tiny-llava {target}: {exc}") from None
    added = ["encoder=clip_l", f"model.checkpoint={path}"]
    return [*added, *overrides], {
        "folder": str(path),
        "built_now": built,
        "overrides": added,
        "describe": tiny_llava.describe(manifest),
        "manifest": manifest,
    }


# ---- output ----------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return f"{100 * x:.1f}%" if x is not None else "—"


def markdown(result: dict[str, Any]) -> str:
    head = (
        f"# Throughput: {result['model_label']} on {result['task']} ({result['device']}, "
        f"{result['dtype']})\n\n"
        f"task set: {result['samples']} samples ({result['distinct_samples']} × "
        f"{result['copies']} copies), "
        f"max_new_tokens {result['max_new_tokens']}, {result['num_workers']} DataLoader worker(s), "
        f"image sharing {'on' if result.get('share_images') else 'off'} (the generated set: on), "
        f"{result['torch_threads']} torch threads on {result['cpu_count']} CPUs (load average "
        f"{result['load_average'][0]:.1f}); median of {result['repeat']} runs. Times in "
        "seconds.\n\n"
    )
    cols = [
        "config",
        "set",
        "samples",
        "images encoded",
        "wall s",
        "floor s",
        "overhead vs floor",
        "answers ≠ floor",
        "samples/s",
        "tokens/s",
        "× plain loop",
        "plan",
        "data wait",
        "preprocess",
        "encode",
        "prefill",
        "decode",
        "model other",
        "harness",
        "harness %",
        "outside fwd %",
        "decode rows/token",
        "peak MiB",
        "answers ≠ plain",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in result["runs"]:
        s = r["split_s"]
        ov, rng = r.get("overhead_vs_floor"), r.get("overhead_vs_floor_range")
        cells = [
            r["config"],
            r.get("set", "task"),
            round(r["samples_per_s"] * r["wall_s"]),
            r["images_encoded"],
            r["wall_s"],
            r.get("floor_wall_s", "—"),
            (
                f"{100 * ov:.1f}% (per round: median {100 * r['overhead_vs_floor_paired']:.1f},"
                f" {100 * rng[0]:.1f} to {100 * rng[1]:.1f})"
                if ov is not None and rng
                else "—"
            ),
            r.get("floor_differs", "—"),
            r["samples_per_s"],
            r["tokens_per_s"],
            r.get("speedup_vs_plain_loop", "—" if r.get("set") == "generated" else 1.0),
            s.get("plan", "—"),
            s.get("data_wait", "—"),
            s.get("preprocess", s.get("preprocess_in_workers")),
            s.get("encode"),
            s.get("prefill"),
            s.get("decode"),
            s.get("model_other"),
            s.get("harness"),
            f"{100 * r['harness_overhead_fraction']:.1f}",
            f"{100 * r['outside_forward_fraction']:.1f}",
            r.get("decode_rows_per_token") or "—",
            r["peak_memory_mib"],
            r.get("differs_from_plain_loop", "—"),
        ]
        if r["config"] == "plain batch-1 loop":
            cells[1] = "task"
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    c = result["checks"]
    notes = [
        "",
        f"- batch 16 / batch 1 throughput: {c.get('batch16_over_batch1')}×",
        (
            f"- largest harness overhead (wall time outside the model's generate call): "
            f"{_pct(c.get('max_harness_overhead_fraction'))}; outside encoder+prefill+decode: "
            f"{_pct(c.get('max_outside_forward_fraction'))}"
        ),
        (
            "- floor: the bare model (encode, prefill, decode called directly; inputs prepared "
            "beforehand; no engine, no data loading, no feature cache) on exactly the batches "
            "the engine run handed the model; overhead vs floor = (engine wall - floor wall) / "
            "floor wall, median runs; per round: each engine run against the floor run timed "
            "next to it (the floor second in odd rounds and first in even ones), their median "
            "(the figure to read on a noisy machine) and range; answers ≠ floor "
            "counts the floor's answers that differ from the engine's."
        ),
        (
            "- engine rows preprocess in DataLoader workers, overlapped with the model (their "
            "preprocess seconds are worker time, not wall time); decode rows/token ≈ 1 means "
            "finished sequences leave the batch; CPU peak memory is the process's peak RSS so far."
        ),
    ]
    return head + "\n".join(lines + notes) + "\n"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        prog="python -m harness.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "overrides",
        nargs="*",
        help="harness overrides, e.g. encoder=demo_siglip task=gqa device=cuda",
    )
    p.add_argument(
        "--batch-sizes", type=int, nargs="+", default=None, help="default: 1 4 16 (--sharing: 16)"
    )
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    p.add_argument(
        "--copies", type=int, default=32, help="repeat the task's samples (small demo sets)"
    )
    p.add_argument(
        "--repeat", type=int, default=3, help="runs per configuration (the median is reported)"
    )
    p.add_argument(
        "--share-images",
        action="store_true",
        help="keep the model's image sharing on (off by default: copies repeat every image)",
    )
    p.add_argument(
        "--sharing",
        action="store_true",
        help="time image sharing on and off (harness.bench_sharing)",
    )
    p.add_argument(
        "--shared-images",
        type=int,
        default=40,
        help="scenes of the POPE-shaped set timed beside the task's samples (0: none)",
    )
    p.add_argument("--images", type=int, default=500, help="--sharing: images of the POPE set")
    p.add_argument("--gqa-images", type=int, default=400, help="--sharing: images of the GQA set")
    p.add_argument(
        "--gqa-per-image",
        type=int,
        default=30,
        help="--sharing: mean questions per image of the GQA set (half to 1.5 times it)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="--sharing: multiply every set's images (0.1: a quick run)",
    )
    p.add_argument(
        "--per-image",
        type=int,
        default=18,
        help="questions per image of the POPE-shaped set (--sharing: of the grouped set)",
    )
    p.add_argument(
        "--single-images",
        type=int,
        default=1000,
        help="--sharing: images of the one-question set",
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=2, help="--sharing: answer length cap (0: the task's)"
    )
    p.add_argument("--out", default="results/bench")
    p.add_argument(
        "--tiny-llava",
        nargs="?",
        const="",
        default=None,
        metavar="DIR",
        help="benchmark the tiny random LLaVA-HF checkpoint (harness.demo.tiny_llava), built "
        "once into DIR (default: <--out>/tiny-llava/v<N>-seed<S>): the same as "
        "encoder=clip_l model.checkpoint=DIR",
    )
    args = p.parse_args(argv)
    overrides = list(args.overrides)
    if args.tiny_llava and "=" in args.tiny_llava and not Path(args.tiny_llava).exists():
        overrides.append(args.tiny_llava)  # an override after a bare --tiny-llava, not a DIR
        args.tiny_llava = ""
    tiny = None
    if args.tiny_llava is not None:
        overrides, tiny = tiny_llava_overrides(overrides, args.tiny_llava, Path(args.out))
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.sharing:
        from harness import bench_sharing

        result = bench_sharing.bench_sharing(
            overrides,
            args.batch_sizes or [16],
            args.num_workers,
            args.repeat,
            args.images,
            args.per_image,
            args.single_images,
            args.max_new_tokens or None,
            args.gqa_images,
            args.gqa_per_image,
            args.scale,
        )
        name, md = (
            f"sharing-{result['model']}-{result['task']}-{result['device'].replace(':', '')}",
            bench_sharing.markdown(result),
        )
    else:
        result = bench(
            overrides,
            args.batch_sizes or [1, 4, 16],
            args.num_workers,
            args.copies,
            args.repeat,
            args.share_images,
            args.shared_images,
            args.per_image,
        )
        name, md = (
            f"{result['model']}-{result['task']}-{result['device'].replace(':', '')}",
            markdown(result),
        )
    if tiny is not None:  # recorded, and named in the outputs and their title
        result["tiny_llava"] = tiny
        name = f"tiny-llava-{name}"
        md = md.replace("\n\n", f"\n\nModel: {tiny['describe']}.\n\n", 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(
        json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8"
    )
    (out / f"{name}.md").write_text(md, encoding="utf-8")
    print(md + f"\nwritten: {out / name}.json, {out / name}.md")
    return result


if __name__ == "__main__":
    from harness.errors import ConfigError

    try:
        main()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
