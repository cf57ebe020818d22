"""``torchrun --nproc-per-node 2`` on CPU (gloo) writes exactly the single-process result."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .runs import check, command, env, lines, run_in_process, scores


def test_two_gloo_ranks_give_the_single_process_result(compose_cfg, monkeypatch, tmp_path):
    ref = tmp_path / "ref"
    run_in_process(
        compose_cfg, monkeypatch, ref
    )  # also builds the demo data before the ranks start
    out = tmp_path / "dist"
    writes = tmp_path / "writes"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        "2",
        *command(out)[1:],
    ]
    proc = subprocess.run(
        cmd,
        env=env(WRITES_LOG=str(writes)),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    check(proc)
    logged = proc.stdout + proc.stderr
    assert "rank 0 of 2" in logged and "on 2 ranks" in logged
    pred = out / "predictions" / "docvqa.jsonl"
    assert pred.read_bytes() == (ref / "predictions" / "docvqa.jsonl").read_bytes()
    ids = [r["id"] for r in lines(pred)]
    assert len(ids) == len(set(ids)) == 32
    assert scores(out) == scores(ref)
    assert not (out / "predictions" / "parts").exists()
    # rank 1 wrote its own journal part and nothing of the results
    rank1 = {
        Path(p).resolve() for p in Path(f"{writes}.rank1").read_text().split() if str(out) in p
    }
    assert rank1 <= {
        (out / "predictions" / "parts" / "docvqa.rank1.jsonl").resolve(),
        (out / "harness.log").resolve(),
    }, rank1
    assert (out / "predictions" / "parts" / "docvqa.rank1.jsonl").resolve() in rank1
    rank0 = {Path(p).name for p in Path(f"{writes}.rank0").read_text().split()}
    temps = {name.split(".")[1] for name in rank0 if name.endswith(".tmp")}  # .<name>.<unique>.tmp
    assert {"scores", "meta", "docvqa"} <= temps and "table.md" in rank0
