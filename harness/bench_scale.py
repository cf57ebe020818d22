"""Memory and time against the number of rows: ``python -m harness.bench_scale``.

Generates DocVQA-layout sets (lmms-lab/DocVQA's hub schema, parquet, read through the real task
loader) of 1k, 2k, 4k, 8k and 16k rows, one question per distinct small image (the layout where
nothing is reused, so every byte kept per image shows as growth), and runs ``model=oracle`` and
the tiny demo MLLM (``encoder=demo_clip_l``, ``task.max_new_tokens`` small) on each, every run in
a fresh subprocess. Each run reports:

- ``peak_anon_mib``: the largest anonymous resident memory (``RssAnon`` of /proc/self/status,
  sampled every 20 ms by a thread of the run): the process's own heap, tensors and caches.
  This is what the bound is asserted on: the parquet shards are memory-mapped, so their pages
  are file-backed and count in RSS as they are read (the kernel may drop them at any time and
  they grow with the set's size on disk, not with what the run keeps);
- ``hwm_mib``: ``VmHWM`` (peak RSS, file-backed pages included), for reference;
- ``per_row_ms``: wall-clock time of the run (process start to exit) per row, fixed costs
  (start-up, model load, exit) included;
- ``task_ms_per_row``: the engine's time for the task (``meta.json`` ``tasks.docvqa.seconds``:
  plan, load, generate, score, write) per row, the figure the linear-time target is checked on;
- the model's feature-cache counters (``meta.json`` ``counters.feature_cache``).

Targets (issue 15): peak at 16k at most 1.15x the peak at 1k; per-row time within +-10 % across
1k-16k rows, for both models. ``--repeat N`` runs each point N times (interleaved) and prints
ranges; the checks use the best of the repeats. Each set's first run is made and printed apart,
not checked: on a freshly written set it includes datasets' one-off conversion of the parquet
shards to its Arrow cache (at 16k rows about 25 MiB more peak), which every later run of the set
on that machine skips.

    python -m harness.bench_scale                      # both models, 1k..16k, 3 repeats
    python -m harness.bench_scale --models oracle --sizes 1000 16000 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SIZES = (1000, 2000, 4000, 8000, 16000)
MODELS = ("oracle", "tiny")
MAX_PEAK_RATIO = 1.15
MAX_TIME_SPREAD = 0.10


def docvqa_rows(n: int, seed: int = 0, side: int = 32) -> list[dict[str, Any]]:
    """``n`` DocVQA-schema rows, each with its own small PNG page (distinct bytes and docId)."""
    import io

    from PIL import Image

    rng = random.Random(seed)
    out = []
    for i in range(n):
        img = Image.new("RGB", (side + i % 7, side), tuple(rng.randrange(256) for _ in range(3)))
        img.putpixel((0, 0), (i & 255, (i >> 8) & 255, (i >> 16) & 255))  # distinct bytes
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        answer = f"A{i}"
        out.append(
            {
                "questionId": str(100000 + i),
                "question": f"What is written in box {i}?",
                "answers": [answer],
                "image": {"bytes": buf.getvalue(), "path": None},
                "docId": 500000 + i,
                "question_types": ["form"],
                "ucsf_document_id": f"scale{i:06d}",
                "ucsf_document_page_no": "1",
                "data_split": "val",
            }
        )
    return out


def build_docvqa_set(folder: Path, n: int, seed: int = 0) -> Path:
    """Write an ``n``-row DocVQA-layout set (config DocVQA, split validation) to ``folder``."""

    from harness.demo.hub import write_hub_dataset
    from harness.demo.sets.docvqa import features

    feats = features()
    return write_hub_dataset(folder, {"DocVQA": {"validation": docvqa_rows(n, seed)}}, feats)


def overrides(model: str, folder: Path, out: Path, extra: Sequence[str] = ()) -> list[str]:
    """The harness command line of one run."""
    common = [
        "task=docvqa",
        f"task.dataset.path={folder}",
        f"output_dir={out}",
        "device=cpu",
    ]
    if model == "oracle":
        return [*common, "model=oracle", *extra]
    return [*common, "encoder=demo_clip_l", "task.max_new_tokens=2", *extra]


class PeakSampler:
    """Samples RssAnon of this process every ``interval`` seconds in a daemon thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval, self.peak_anon = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> PeakSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_anon = max(self.peak_anon, status_kib("RssAnon"))
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_anon = max(self.peak_anon, status_kib("RssAnon"))


def status_kib(field: str) -> int:
    """A ``kB`` field of /proc/self/status (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def child(args: Sequence[str], report: Path) -> None:
    """Run ``python -m harness ARGS`` in this process, sampling memory; write a JSON report."""
    t0 = time.perf_counter()
    sampler = PeakSampler().start()
    sys.argv = ["harness", *args]
    code = 0
    try:
        from harness.__main__ import main

        main()
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    sampler.stop()
    result = {
        "seconds": time.perf_counter() - t0,
        "peak_anon_kib": sampler.peak_anon,
        "hwm_kib": status_kib("VmHWM"),
        "exit": code,
        "torch_imported": "torch" in sys.modules,
    }
    report.write_text(json.dumps(result), encoding="utf-8")


def run_once(
    model: str, folder: Path, n: int, work: Path, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """One run in a fresh interpreter; its report plus the wall clock seen from outside."""
    out = Path(tempfile.mkdtemp(prefix=f"{model}-{n}-", dir=work))
    report = out / "report.json"
    cmd = [sys.executable, "-m", "harness.bench_scale", "--child", str(report), "--"]
    cmd += overrides(model, folder, out / "run", extra)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not report.is_file():
        raise SystemExit(f"run failed ({' '.join(cmd)}):\n{proc.stderr[-3000:]}")
    res: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    if res["exit"] != 0:
        raise SystemExit(f"harness exited {res['exit']}:\n{proc.stderr[-3000:]}")
    res["wall"] = wall
    res["per_row_ms"] = 1000 * wall / n
    meta = next((out / "run").rglob("meta.json"), None)
    if meta is not None:
        data = json.loads(meta.read_text(encoding="utf-8"))
        task = (data.get("tasks") or {}).get("docvqa") or {}
        if task.get("seconds"):
            res["task_seconds"] = task["seconds"]
            res["task_ms_per_row"] = 1000 * task["seconds"] / n
        counters = data.get("counters") or (data.get("model") or {}).get("counters")
        if counters:
            res["counters"] = counters
    return res


def span(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if lo == hi else f"{fmt.format(lo)}-{fmt.format(hi)}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.bench_scale", description=__doc__)
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--sizes", nargs="+", type=int, default=list(SIZES))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--work", type=Path, default=None, help="folder for sets and runs (temporary)")
    p.add_argument("--json", type=Path, default=None, help="write every measurement here")
    p.add_argument("rest", nargs="*", help="extra harness overrides (after --)")
    args = p.parse_args(argv)
    if args.child is not None:
        child(args.rest, args.child)
        return 0
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {m: {} for m in args.models}
    sets = {}
    for n in args.sizes:
        folder = work / f"docvqa-{n}"
        if not (folder / "README.md").is_file():
            build_docvqa_set(folder, n)
        sets[n] = folder
    # each set's first run: on a fresh set datasets also converts the parquet shards to its Arrow
    # cache (once per set and machine), which the runs after it, the ones checked, do not pay
    cold: dict[int, dict[str, Any]] = {}
    for n in args.sizes:
        cold[n] = run_once(args.models[0], sets[n], n, work, args.rest)
        print(
            f"{args.models[0]:6s} {n:6d} rows, the set's first run (not checked): peak anon "
            f"{cold[n]['peak_anon_kib'] / 1024:7.1f} MiB, {cold[n]['per_row_ms']:.3f} ms/row",
            flush=True,
        )
    for _ in range(args.repeat):  # interleaved, so a noisy minute hits every point alike
        for model in args.models:
            for n in args.sizes:
                res = run_once(model, sets[n], n, work, args.rest)
                results[model].setdefault(n, []).append(res)
                print(
                    f"{model:6s} {n:6d} rows: peak anon {res['peak_anon_kib'] / 1024:7.1f} MiB, "
                    f"VmHWM {res['hwm_kib'] / 1024:7.1f} MiB, {res['per_row_ms']:.3f} ms/row",
                    flush=True,
                )
    ok = True
    print(
        "\nmodel    rows   peak anon MiB   VmHWM MiB   wall ms/row   engine ms/row   "
        "feature cache peak (entries / MiB)"
    )
    for model, by_n in results.items():
        for n, runs in sorted(by_n.items()):
            cache = [(r.get("counters") or {}).get("feature_cache") or {} for r in runs]
            peak = (
                f"{span([c.get('peak_entries', 0) for c in cache])} / "
                f"{span([c.get('peak_bytes', 0) / 2**20 for c in cache], '{:.1f}')}"
                if any(cache)
                else "-"
            )
            print(
                f"{model:6s} {n:6d}   {span([r['peak_anon_kib'] / 1024 for r in runs]):>13s}"
                f"   {span([r['hwm_kib'] / 1024 for r in runs]):>9s}"
                f"   {span([r['per_row_ms'] for r in runs], '{:.2f}'):>11s}"
                f"   {span([r.get('task_ms_per_row', 0.0) for r in runs], '{:.3f}'):>13s}"
                f"   {peak}"
            )
        ns = sorted(by_n)
        if len(ns) >= 2:
            lo = min(r["peak_anon_kib"] for r in by_n[ns[0]])
            hi = min(r["peak_anon_kib"] for r in by_n[ns[-1]])
            times = [min(r.get("task_ms_per_row", r["per_row_ms"]) for r in by_n[n]) for n in ns]
            mid = (max(times) + min(times)) / 2
            ratio, spread = hi / lo, (max(times) - min(times)) / 2 / mid
            per_row = (hi - lo) / (ns[-1] - ns[0])
            mem_ok, time_ok = ratio <= MAX_PEAK_RATIO, spread <= MAX_TIME_SPREAD
            ok = ok and mem_ok and time_ok
            print(
                f"{model}: peak anon at {ns[-1]} / at {ns[0]} = {ratio:.3f} (target <= "
                f"{MAX_PEAK_RATIO}) {'ok' if mem_ok else 'MISSED'}, {per_row:.2f} KiB per added "
                f"row; engine time per row (best of repeats) within +-{100 * spread:.1f} % of "
                f"its mid-range (target +-{100 * MAX_TIME_SPREAD:.0f} %) "
                f"{'ok' if time_ok else 'MISSED'}"
            )
    if args.json is not None:
        args.json.write_text(
            json.dumps({"runs": results, "first_runs": cold}, indent=1, default=str),
            encoding="utf-8",
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
