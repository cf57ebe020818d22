"""Fixed cost of ``python -m harness``: start (process start -> config composed, i.e. ``run``
entered), model load (``build_model``), exit (results written -> process gone), end to end.

    python tests/bench_startup.py [--repeats 3] [--src DIR ...] [--tiny-llava CKPT]

Each ``--src`` is a source tree (a checkout or ``git worktree`` of another revision; default
this one): the runs alternate between them, so they share the machine's state. Cases: the
oracle and the demo CLIP-L MLLM on the demo POPE set, and with ``--tiny-llava`` the tiny random
LLaVA-HF checkpoint that issue 15 measured (``python -m harness.demo.tiny_llava CKPT`` builds
it; ``encoder=clip_l model.checkpoint=CKPT``, which every revision reads). Prints each figure's
range, and the import floor: ``python -c`` with nothing, ``import torch``, and torch with
transformers' LLaVA class (what loading that checkpoint must import, whoever loads it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCHER = r"""
import json, os, sys, time
rec = {}
stat = open("/proc/self/stat").read().rsplit(")", 1)[1].split()
rec["proc"] = time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME)
                             - int(stat[19]) / os.sysconf("SC_CLK_TCK"))
out = sys.argv.pop(1)
def save():
    with open(out, "w") as f:
        json.dump(rec, f)
import harness.runner as r
run, build = r.run, r.build_model
def timed_run(*a, **k):
    rec["run"] = time.time(); save()
    return run(*a, **k)
def timed_build(*a, **k):
    rec["load0"] = time.time()
    m = build(*a, **k)
    rec["load1"] = time.time(); save()
    return m
r.run, r.build_model = timed_run, timed_build
import inspect
from harness.__main__ import main
sys.argv[0] = "harness"
kw = {"fast_exit": True} if "fast_exit" in inspect.signature(main).parameters else {}
main(**kw)
"""


def one(src: Path, args: list[str], work: Path) -> dict[str, float]:
    out = work / "run"
    rec_file = work / "rec.json"
    for p in (rec_file,):
        p.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(out)], check=True)
    env = dict(os.environ, PYTHONPATH=str(src))
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(rec_file), *args, f"output_dir={out}"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
    )
    gone = time.time()
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    rec = json.loads(rec_file.read_text())
    written = max(p.stat().st_mtime for p in out.rglob("*") if p.is_file())
    return {
        "start": rec["run"] - rec["proc"],
        "load": rec["load1"] - rec["load0"],
        "exit": gone - written,
        "fixed": rec["run"] - rec["proc"] + rec["load1"] - rec["load0"] + gone - written,
        "total": gone - rec["proc"],
        "launch": t0,
    }


FLOOR_IMPORTS = {  # what any run of these models pays before the harness does anything
    "python": "pass",
    "torch": "import torch",
    "torch+LLaVA": "import torch\nfrom transformers import LlavaForConditionalGeneration",
}


def bare(code: str) -> float:
    """Seconds from launching ``python -c code`` to its imports done (the process's own exit,
    which tears the modules down, is left out: the harness skips it)."""
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport time\nprint(time.time())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(proc.stdout.split()[-1]) - t0


def span(xs: list[float]) -> str:
    return f"{min(xs):.2f}-{max(xs):.2f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--src", action="append", type=Path)
    ap.add_argument("--cache", type=Path, default=None, help="cache_dir (demo models, data)")
    ap.add_argument("--tiny-llava", type=Path, default=None, help="a tiny LLaVA-HF checkpoint")
    a = ap.parse_args()
    srcs = a.src or [Path(__file__).resolve().parent.parent]
    cache = a.cache or Path(tempfile.gettempdir()) / "bench-startup-cache"
    common = ["task=pope", "device=cpu", f"cache_dir={cache}"]
    cases = {
        "oracle": ["model=oracle", "encoder=demo_clip_l", *common],
        "demo MLLM": ["encoder=demo_clip_l", *common],
    }
    if a.tiny_llava is not None:
        cases["tiny LLaVA"] = [
            "encoder=clip_l",
            f"model.checkpoint={a.tiny_llava}",
            "data=demo",
            *common,
        ]
    with tempfile.TemporaryDirectory() as tmp:
        for args in cases.values():  # first use builds the demo model and data: not timed
            for src in srcs:
                one(src, args, Path(tmp))
        res: dict[tuple[str, str], list[dict[str, float]]] = {}
        floors: dict[str, list[float]] = {k: [] for k in FLOOR_IMPORTS}
        for _ in range(a.repeats):
            for k, code in FLOOR_IMPORTS.items():
                floors[k].append(bare(code))
            for name, args in cases.items():
                for src in srcs:
                    res.setdefault((name, str(src)), []).append(one(src, args, Path(tmp)))
    print(
        f"{'case':10} {'source':28} {'start':>11} {'load':>11} {'exit':>11} {'fixed':>11} "
        f"{'total':>11}"
    )
    for (name, src), rows in res.items():
        cols = [span([r[k] for r in rows]) for k in ("start", "load", "exit", "fixed", "total")]
        print(f"{name:10} {src[-28:]:28} " + " ".join(f"{c:>11}" for c in cols))
    print(
        "import floor (python -c, launch to imports done; no harness): "
        + ", ".join(f"{k} {span(v)} s" for k, v in floors.items())
    )


if __name__ == "__main__":
    main()
