"""Image groups in the engine: whole groups per rank, consecutive batches, identical records with
and without sharing on every demo task that repeats images (fp32, the demo MLLM)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from harness.engine import EngineSettings, run_task
from harness.engine.loader import Item, pack
from harness.engine.plan import image_group, make_batches, plan_task, shard
from harness.types import ImageRef, Request

from .fakes import FakeMLLM, ToyTask

samples_st = st.dictionaries(
    st.integers(0, 300),
    st.tuples(st.integers(0, 3), st.integers(0, 20), st.integers(0, 6)),
    max_size=80,
)
REPEATING = ("gqa", "pope", "mme", "docvqa", "infovqa", "chartqa", "ocrbench", "mathvista")


def _split(samples: dict) -> tuple[dict, dict]:
    """(size keys, image groups): the third number of a sample is its image (6: none)."""
    return (
        {i: v[:2] for i, v in samples.items()},
        {i: None if v[2] == 6 else (f"key:img{v[2]}",) for i, v in samples.items()},
    )


@given(samples_st, st.integers(1, 6))
def test_groups_go_to_one_rank_whole_and_ranks_stay_balanced(samples, world):
    keys, groups = _split(samples)
    shards = [shard(list(keys), keys, r, world, groups) for r in range(world)]
    assert sorted(i for s in shards for i in s) == sorted(keys)
    owner = {}
    for r, s in enumerate(shards):
        for i in s:
            if groups[i] is not None:
                assert owner.setdefault(groups[i], r) == r  # no image is asked about on two ranks
    sizes = {g: sum(x == g for x in groups.values()) for g in set(groups.values()) if g is not None}
    biggest = max(sizes.values(), default=1)
    assert max(map(len, shards)) - min(map(len, shards)) <= biggest


@given(samples_st, st.integers(1, 20))
def test_batches_keep_an_images_questions_together(samples, size):
    keys, groups = _split(samples)
    batches = make_batches(list(keys), keys, size, groups)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == sorted(keys) and all(1 <= len(b) <= size for b in batches)
    runs = [
        groups[i]
        for n, i in enumerate(flat)
        if groups[i] is not None and (n == 0 or groups[flat[n - 1]] != groups[i])
    ]
    assert len(runs) == len(set(runs))  # each group is one run of consecutive samples


def test_image_group_uses_the_dataset_id_else_the_bytes(tmp_path):
    a = Request("a", "q", [ImageRef(data=b"same bytes")])
    b = Request("b", "q", [ImageRef(path=str(tmp_path / "x.png"))])
    (tmp_path / "x.png").write_bytes(b"same bytes")
    assert (
        image_group(a) == image_group(b) == (f"sha1:{ImageRef(data=b'same bytes').content_hash()}",)
    )
    assert image_group(Request("c", "q", [ImageRef(data=b"other", key="7")])) == ("key:7",)
    assert image_group(Request("d", "q", [ImageRef(path=str(tmp_path / "missing.png"))])) is None
    task = ToyTask(n=6)
    plan = plan_task(task.docs(), 6, set(), task.build_request, group=image_group)
    assert plan.groups == {i: (f"key:img{i % 5}",) for i in range(6)}
    assert plan_task(task.docs(), 6, set(), task.build_request).groups is None


def test_pack_copies_a_shared_tensor_once():
    pixels = torch.rand(2, 3, 4, 4)  # one image's pixels, in two questions
    packed = pack([Item(0, "p", [pixels]), Item(1, "p", [pixels, torch.rand(1, 3, 4, 4)])])
    a, b = packed[0].payload[0], packed[1].payload[0]
    assert torch.equal(a, pixels) and a.data_ptr() == b.data_ptr()
    assert a.untyped_storage().nbytes() == (2 + 1) * 48 * 4


def test_models_without_sharing_are_planned_as_before(tmp_path):
    model = FakeMLLM()
    res = run_task(
        ToyTask(), model, tmp_path, EngineSettings(batch_size=4, progress=False, share_images=True)
    )
    assert not model.can_share_images and not model.share_images and len(res.records) == 20


@pytest.fixture(scope="module")
def demo_setup(cache_dir):
    from harness.bench_tools import compose
    from harness.config import load_group
    from harness.demo.models import demo_cfg
    from harness.device import resolve_device
    from harness.models.mllm import load_mllm

    _, _, task_list = compose(["task=all", "data=demo"])
    tasks = {t.name: t for t in task_list}
    enc = load_group("encoder", "demo_unit_1b")
    model = load_mllm(demo_cfg(enc, Path(cache_dir)), enc, resolve_device("cpu", "fp32"))
    return tasks, model


def _records(
    task, model, tmp: Path, share: bool, workers: int = 0, batch_size: int = 16
) -> tuple[list, dict]:
    model.features.clear()
    model.timings = dict.fromkeys(model.timings, 0)
    res = run_task(
        task,
        model,
        tmp,
        EngineSettings(
            batch_size=batch_size,
            num_workers=workers,
            share_images=share,
            progress=False,
            resume=False,
            background_scoring=False,
        ),
    )
    assert model.share_images is share
    return list(res.records), dict(model.timings)


@pytest.mark.parametrize("name", REPEATING)
def test_every_task_with_repeated_images_gives_identical_records(name, demo_setup, tmp_path):
    tasks, model = demo_setup
    task = tasks[name]
    off, t_off = _records(task, model, tmp_path / "off", False)
    on, t_on = _records(task, model, tmp_path / "on", True)
    assert on == off and [r["id"] for r in on] == [str(d["id"]) for d in task.docs()]
    distinct = len({model.preprocessor(task.build_request(d)).image_hashes[0] for d in task.docs()})
    assert t_off["images_encoded"] == len(task.docs()) > distinct == t_on["images_encoded"]
    assert t_on["prefill_tokens"] < t_off["prefill_tokens"] and t_on["shared_prefix_rows"] > 0


def test_workers_and_small_batches_share_identically(demo_setup, tmp_path):
    tasks, model = demo_setup
    off, _ = _records(tasks["gqa"], model, tmp_path / "off", False)
    on, t = _records(tasks["gqa"], model, tmp_path / "on", True, workers=1, batch_size=3)
    assert (
        on == off
        and t["images_encoded"] == 8
        and t["prefixes_computed"] + t["shared_prefix_rows"] > 0
    )


def _sharing_rank(rank: int, port: int, out: str, task, model) -> None:
    import json
    import os

    from harness.engine.dist import init_from_env, shutdown

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_RANK=str(rank),
    )
    from harness.models.featcache import FeatureCache

    init_from_env("gloo")
    # the disk keeps every image this rank ran through the encoder (memory frees each one after
    # its last use)
    disk = Path(out) / f"features-rank{rank}"
    model.features = FeatureCache(disk_dir=disk)
    records, timings = _records(task, model, Path(out), True, batch_size=3)
    encoded = sorted(p.stem for p in disk.rglob("*.safetensors"))
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(
            {"records": records, "encoded": encoded, "images_encoded": timings["images_encoded"]}, f
        )
    shutdown()


def test_two_ranks_encode_disjoint_images_and_match_one_process(demo_setup, tmp_path):
    import json
    import multiprocessing
    import socket

    tasks, model = demo_setup
    task = tasks["pope"]
    reference, _ = _records(task, model, tmp_path / "one", False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    fork = multiprocessing.get_context("fork")
    procs = [
        fork.Process(target=_sharing_rank, args=(r, port, str(tmp_path / "dist"), task, model))
        for r in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = [json.loads((tmp_path / "dist" / f"rank{r}.json").read_text()) for r in range(2)]
    assert got[0]["records"] == got[1]["records"] == reference
    mine = [set(g["encoded"]) for g in got]
    distinct = {model.preprocessor(task.build_request(d)).image_hashes[0] for d in task.docs()}
    assert not mine[0] & mine[1] and mine[0] | mine[1] == distinct and all(mine)
    assert [g["images_encoded"] for g in got] == [len(m) for m in mine]
