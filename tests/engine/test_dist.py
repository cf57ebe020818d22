"""Real gloo collectives between forked processes: ranks without samples, several tasks in a row."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket

import pytest

from harness.engine import EngineSettings, run_task
from harness.engine.dist import DistContext, env_ranks, init_from_env, shutdown
from harness.errors import HarnessError

from .fakes import FakeMLLM, ToyTask

TASKS = [
    {"n": 1, "name": "one"},
    {"n": 7, "bad": ("q2",), "name": "seven"},
]  # with 2 ranks, rank 1 has nothing to do in the first


def _rank(rank: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    ctx = init_from_env("gloo")
    results = []
    for kw in TASKS:
        res = run_task(
            ToyTask(**kw),
            FakeMLLM(),
            out,
            EngineSettings(batch_size=2, num_workers=1, progress=False),
        )
        results.append(
            {"records": list(res.records), "generated": res.n_generated, "world": ctx.world}
        )
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(results, f)
    shutdown()


def test_two_ranks_match_one_process_even_with_an_idle_rank(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fork = multiprocessing.get_context("fork")
    procs = [fork.Process(target=_rank, args=(r, port, str(tmp_path / "dist"))) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    single = [
        run_task(
            ToyTask(**kw),
            FakeMLLM(),
            tmp_path / "one",
            EngineSettings(batch_size=2, progress=False),
        )
        for kw in TASKS
    ]
    for rank in (0, 1):
        got = json.loads((tmp_path / "dist" / f"rank{rank}.json").read_text())
        assert [g["records"] for g in got] == [s.records for s in single]
        assert [g["generated"] for g in got] == [1, 6] and got[0]["world"] == 2
    for name in ("one.jsonl", "seven.jsonl"):
        assert (tmp_path / "dist" / "predictions" / name).read_text() == (
            tmp_path / "one" / "predictions" / name
        ).read_text()
    assert not (tmp_path / "dist" / "predictions" / "parts").exists()


def test_single_process_context_is_a_no_op():
    ctx = DistContext()
    assert ctx.is_main and ctx.broadcast({"a": 1}) == {"a": 1} and ctx.all_gather(3) == [3]
    ctx.barrier()


def test_torchrun_variables_must_be_integers():
    assert env_ranks({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(HarnessError, match="RANK/WORLD_SIZE/LOCAL_RANK must be integers"):
        env_ranks({"RANK": "x"})
