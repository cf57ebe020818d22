"""Bootstrap time and memory at scale, this checkout against an earlier revision, side by side.

    python tests/report/bench_bootstrap.py                      # 50,000 rows, 1,000 resamples
    python tests/report/bench_bootstrap.py --rev 4a886a5 --rows 50000 --repeats 5

Each measurement runs in a fresh interpreter (so peak RSS means something): it builds scored
records of a DocVQA-like set (ANLS, the vectorised *mean* path) or a POPE set (F1, the *features*
path), then times ``bootstrap_ci`` and reads the peak RSS growth over the records' own memory
(``ru_maxrss`` minus the RSS before the call), then runs it again under ``tracemalloc`` (numpy
reports its buffers to it) for the peak traced allocation. ``--rev`` names the revision whose
``harness/report/stats.py`` is the "before" (it is read with ``git show`` and imported beside
the current one; everything else is this checkout's). Prints ranges over the repeats.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def records(path: str, n: int) -> tuple[Any, list[dict[str, Any]]]:
    """``n`` scored records and the task they belong to: ``mean`` (DocVQA, ANLS in {0, partial,
    1}) or ``features`` (POPE: yes/no/unparsed predictions over the three splits)."""
    import numpy as np

    rng = np.random.default_rng(1)
    if path == "mean":
        from harness.tasks.docvqa import DocVQA

        task: Any = DocVQA()
        preds = ["zzzzzz", "helo world", "hello world"]
        docs = [
            {"id": f"q{i}", "question": "What is written?", "answers": ["hello world"]}
            for i in range(n)
        ]
        picks = rng.integers(0, 3, n)
        return task, [
            {"id": d["id"], "prediction": preds[p], **task.score(d, preds[p])}
            for d, p in zip(docs, picks)
        ]
    from harness.tasks.pope import POPE

    task = POPE()
    out = []
    for i, p in enumerate(rng.integers(0, 3, n)):
        doc = {
            "id": str(i),
            "answer": ["yes", "no"][i % 2],
            "split": ["random", "popular", "adversarial"][i % 3],
        }
        pred = ["Yes", "No", "maybe"][int(p)]
        out.append({"id": str(i), "prediction": pred, **task.score(doc, pred)})
    return task, out


def load_stats(rev: str | None) -> ModuleType:
    """``harness.report.stats`` of this checkout, or of revision ``rev`` (via ``git show``)."""
    if rev is None:
        from harness.report import stats

        return stats
    src = subprocess.run(
        ["git", "show", f"{rev}:harness/report/stats.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tmp = Path(tempfile.mkdtemp()) / "stats_before.py"
    tmp.write_text(src)
    spec = importlib.util.spec_from_file_location("stats_before", tmp)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rss_bytes() -> int:
    """The current resident set size (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize()


def child(rev: str | None, path: str, n: int, resamples: int) -> dict[str, Any]:
    stats = load_stats(rev)
    task, recs = records(path, n)
    before = rss_bytes()
    t0 = time.perf_counter()
    ci = stats.bootstrap_ci(task, recs, n_resamples=resamples, seed=0)
    wall = time.perf_counter() - t0
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    tracemalloc.start()
    stats.bootstrap_ci(task, recs, n_resamples=resamples, seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"s": wall, "rss_mib": grown / 2**20, "traced_mib": peak / 2**20, "ci": list(ci)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rev", default="HEAD", help="the 'before' revision (default HEAD)")
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--paths", default="mean,features")
    ap.add_argument("--child", nargs=2, metavar=("REV|-", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        rev = None if args.child[0] == "-" else args.child[0]
        print(json.dumps(child(rev, args.child[1], args.rows, args.resamples)))
        return
    print(f"bootstrap_ci, {args.rows} rows, {args.resamples} resamples, {args.repeats} repeats")
    for path in args.paths.split(","):
        got: dict[str, list[dict[str, Any]]] = {args.rev: [], "now": []}
        for _ in range(args.repeats):  # alternate before/after so load drifts hit both
            for label, rev in ((args.rev, args.rev), ("now", "-")):
                cmd = [sys.executable, __file__, "--child", rev, path]
                cmd += ["--rows", str(args.rows), "--resamples", str(args.resamples)]
                out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True)
                got[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
        for label, runs in got.items():
            cells = []
            for key, unit in (("s", "s"), ("rss_mib", "MiB RSS"), ("traced_mib", "MiB traced")):
                vals = [r[key] for r in runs]
                cells.append(f"{min(vals):.2f}-{max(vals):.2f} {unit}")
            cis = {tuple(r["ci"]) for r in runs}
            print(f"  {path:8} {label:8} " + ", ".join(cells) + f"; interval {sorted(cis)}")


if __name__ == "__main__":
    main()
