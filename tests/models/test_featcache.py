"""The feature cache: byte limit (LRU), namespaces, disk; never serves another checkpoint's or
preprocessing's features."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from harness.demo.models import demo_cfg
from harness.models.featcache import FeatureCache, Namespace
from harness.models.mllm import load_mllm
from harness.types import GenerationSettings, ImageRef, Request
from tests.models.conftest import random_image
from tests.models.test_sharing import UNIT_DEMO

A, B = Namespace({"encoder": "a"}), Namespace({"encoder": "b"})


def feats(n: int, value: float = 1.0) -> torch.Tensor:
    return torch.full((n, 25), float(value))  # n * 100 bytes in float32


def test_memory_respects_its_byte_limit_least_recently_used_first():
    cache = FeatureCache(max_bytes=1000)
    for i in range(3):
        cache.put(A, f"h{i}", feats(4, i))  # 400 bytes each: the third pushes out the first
    assert (
        len(cache) == 2
        and cache.bytes == 800
        and cache.get(A, "h0") is None
        and cache.stats["evicted"] == 1
    )
    assert cache.get(A, "h1") is not None  # h1 is now the most recently used; h2 leaves next
    cache.put(A, "h3", feats(3))
    assert cache.bytes == 700 and cache.get(A, "h2") is None and cache.get(A, "h1") is not None
    for i in range(10, 20):  # fill far past the limit
        cache.put(A, f"h{i}", feats(3, i))
    assert (
        cache.bytes <= 1000 and len(cache) == 3 and torch.equal(cache.get(A, "h19"), feats(3, 19))
    )
    cache.put(A, "big", feats(11))  # larger than the whole limit: not kept, nothing else dropped
    assert cache.get(A, "big") is None and len(cache) == 3 and cache.bytes == 900
    cache.put(A, "h19", feats(1))  # replacing an entry counts its new size only
    assert cache.bytes == 700


def test_namespaces_never_mix():
    cache = FeatureCache()
    cache.put(A, "h", feats(1, 5.0))
    assert cache.get(B, "h") is None and torch.equal(cache.get(A, "h"), feats(1, 5.0))
    assert Namespace({"encoder": "a"}).id == A.id


def test_disk_store_survives_the_process_and_keeps_namespaces_apart(tmp_path, caplog):
    cache = FeatureCache(
        max_bytes=0, disk_dir=tmp_path
    )  # nothing in memory: every hit comes from disk
    cache.put(A, "abcdef", feats(2, 3.0))
    path = tmp_path / A.id / "ab" / "abcdef.safetensors"
    assert path.is_file() and json.loads((tmp_path / A.id / "namespace.json").read_text()) == {
        "encoder": "a"
    }
    again = FeatureCache(disk_dir=tmp_path)
    assert torch.equal(again.get(A, "abcdef"), feats(2, 3.0)) and again.stats["disk_hits"] == 1
    assert again.get(B, "abcdef") is None and again.get(A, "other") is None
    path.write_bytes(b"truncated")
    with caplog.at_level(logging.WARNING):
        assert FeatureCache(disk_dir=tmp_path).get(A, "abcdef") is None
    assert "ignoring unreadable" in caplog.text


@pytest.fixture(scope="module")
def demo(cpu, cache_dir):
    return load_mllm(demo_cfg(UNIT_DEMO, cache_dir), UNIT_DEMO, cpu)


def test_image_hash_is_the_content_wherever_it_comes_from(demo, tmp_path):
    img = random_image(1, 20, 10)
    png = io.BytesIO()
    img.save(png, "PNG")
    (tmp_path / "a.png").write_bytes(png.getvalue())
    same = [ImageRef(data=png.getvalue(), key="x"), ImageRef(path=str(tmp_path / "a.png"), key="y")]
    hashes = [
        demo.preprocessor(Request(str(i), "q", [r])).image_hashes[0] for i, r in enumerate(same)
    ]
    assert hashes[0] == hashes[1] == same[0].content_hash()  # the dataset key plays no part
    in_memory = demo.preprocessor(Request("m", "q", [ImageRef(image=img)])).image_hashes[0]
    assert (
        in_memory == ImageRef(image=img.copy()).content_hash() != hashes[0]
    )  # decoded pixels, size, mode
    assert ImageRef(image=random_image(2, 20, 10)).content_hash() != in_memory


# ---- MLLM level: a changed checkpoint or preprocessing misses ------------------------------------
def _copy_demo(cache_dir: Path, dest: Path) -> Path:
    from harness.demo.models import ensure_demo_checkpoint

    mllm = ensure_demo_checkpoint(UNIT_DEMO, cache_dir)
    shutil.copytree(mllm.parent / "encoder", dest / "encoder")
    shutil.copytree(mllm, dest / "mllm")  # mm_vision_tower: ../encoder
    return dest / "mllm"


def _bump(path: Path, prefix: str) -> None:
    sd = load_file(str(path))
    key = next(k for k in sorted(sd) if k.startswith(prefix) and sd[k].dim() == 1)
    sd[key] = sd[key] + 0.5
    save_file(sd, str(path))


def _requests() -> list[Request]:
    imgs = [random_image(40 + i, 60 + 20 * i, 50) for i in range(3)]
    return [
        Request(f"q{i}", "What colour is the square?", [ImageRef(image=img)], GenerationSettings(6))
        for i, img in enumerate(imgs)
    ]


def _encoded(m, reqs) -> tuple[int, list]:
    m.timings = dict.fromkeys(m.timings, 0)
    m.sharer.carry = None  # no prefix kept from an earlier call: every image needs its features
    out = m.generate(reqs)
    return m.timings["images_encoded"], out


@pytest.fixture(scope="module")
def variants(tmp_path_factory, cache_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("featcache")
    out = {
        name: _copy_demo(cache_dir, root / name)
        for name in ("base", "projector", "encoder", "processor")
    }
    _bump(out["projector"] / "model.safetensors", "model.mm_projector.")
    _bump(out["encoder"].parent / "encoder" / "model.safetensors", "")
    proc = out["processor"].parent / "encoder" / "preprocessor_config.json"
    proc.write_text(
        json.dumps(dict(json.loads(proc.read_text()), resample=2))
    )  # bilinear instead of bicubic
    return out


def test_second_run_skips_the_encoder_and_changes_are_never_served(
    variants, tmp_path, cpu, cache_dir
):
    disk = tmp_path / "features"
    cfg = {"template": "vicuna_v1", "feature_cache_dir": str(disk)}
    reqs = _requests()

    def model(name: str, **extra):
        return load_mllm(
            dict(cfg, checkpoint=str(variants[name]), **extra), dict(UNIT_DEMO, demo=False), cpu
        )

    first = model("base")
    n, out = _encoded(first, reqs)
    assert n == 3 and len(list(disk.rglob("*.safetensors"))) == 3
    second = model("base")  # a new process in effect: only the disk is shared
    assert _encoded(second, reqs) == (0, out)
    for name, extra in (
        ("projector", {}),
        ("encoder", {}),
        ("processor", {}),
        ("base", {"image_aspect_ratio": "pad"}),
    ):
        other = model(name, **extra)
        other.features = second.features  # even the same in-memory cache and disk folder
        n, changed = _encoded(other, reqs)
        assert n == 3, name  # computed afresh, not served from the base model's entries
        other.features = type(second.features)()
        assert _encoded(other, reqs) == (
            3,
            changed,
        )  # and they equal that model's own features' answers
    assert len({p.parent.parent.name for p in disk.rglob("*.safetensors")}) == 5


# ---- plan-aware keeping: only what is used again, freed after its last use -------------------
def test_keep_false_writes_disk_only_and_release_frees_after_last_use(tmp_path):
    cache = FeatureCache(max_bytes=10_000, disk_dir=tmp_path)
    cache.put(A, "once", feats(4), keep=False)  # never asked for again: not in memory
    assert len(cache) == 0 and cache.bytes == 0 and cache.stats["disk_writes"] == 1
    assert torch.equal(cache.get(A, "once", keep=False), feats(4)) and len(cache) == 0
    cache.put(A, "twice", feats(4))
    assert len(cache) == 1 and cache.counters()["peak_bytes"] == 400
    cache.release(A, "twice")
    cache.release(A, "absent")  # no-op
    c = cache.counters()
    assert (c["entries"], c["bytes"], c["freed_after_last_use"], c["peak_bytes"]) == (0, 0, 1, 400)


def test_a_view_of_a_batch_is_copied_so_the_bound_counts_what_is_kept():
    batch = torch.zeros(64, 4, 25)  # a whole batch's output: 25,600 bytes
    cache = FeatureCache(max_bytes=1000)
    cache.put(A, "row", batch[3])  # 400 bytes counted: the entry must not keep the batch alive
    kept = cache.get(A, "row")
    assert kept.untyped_storage().nbytes() == 400 and cache.bytes == 400


def _hinted(m, reqs, hints):
    """Prepared requests carrying the engine's per-image reuse hints."""
    return [m.preprocessor(dataclasses.replace(r, reuse=h)) for r, h in zip(reqs, hints)]


def _distinct(n: int) -> list[Request]:
    return [
        Request(
            f"d{i}",
            "What colour is the square?",
            [ImageRef(image=random_image(900 + i, 30, 20))],
            GenerationSettings(2),
        )
        for i in range(n)
    ]


def test_images_used_once_never_enter_memory_and_groups_leave_after_their_last_row(demo):
    demo.share_images = True
    demo.features = FeatureCache()
    demo.sharer.carry = None
    # one question per image: the plan says no image is used again
    for batch in (_distinct(8)[:4], _distinct(8)[4:]):
        demo.generate_prepared(_hinted(demo, batch, [(False,)] * len(batch)))
    c = demo.counters()["feature_cache"]
    assert (c["entries"], c["peak_entries"], c["peak_bytes"], c["misses"]) == (0, 0, 0, 8)
    # an image asked about in two batches: kept after the first, freed after the second
    img = ImageRef(image=random_image(77, 40, 30))
    reqs = [Request(f"g{j}", f"Question {j}?", [img], GenerationSettings(2)) for j in range(4)]
    first = _hinted(demo, reqs[:2], [(True,), (True,)])
    demo.generate_prepared(first)
    assert demo.counters()["feature_cache"]["entries"] == 1
    demo.sharer.carry = None  # the second batch looks the features up (no carried prefix)
    demo.generate_prepared(_hinted(demo, reqs[2:], [(True,), (False,)]))
    c = demo.counters()["feature_cache"]
    assert c["entries"] == 0 and c["bytes"] == 0 and c["freed_after_last_use"] == 1
    assert c["hits"] == 1 and demo.counters()["images_encoded"] >= 9


def test_a_group_served_from_the_carried_prefix_is_freed_too(demo):
    demo.share_images = True
    demo.features = FeatureCache()
    demo.sharer.carry = None
    img = ImageRef(image=random_image(78, 40, 30))
    reqs = [Request(f"c{j}", f"Question {j}?", [img], GenerationSettings(2)) for j in range(4)]
    demo.generate_prepared(_hinted(demo, reqs[:2], [(True,), (True,)]))
    assert demo.counters()["feature_cache"]["entries"] == 1
    demo.generate_prepared(_hinted(demo, reqs[2:], [(True,), (False,)]))  # carry: no lookup
    c = demo.counters()["feature_cache"]
    assert c["entries"] == 0 and c["freed_after_last_use"] == 1


def test_without_hints_the_cache_is_a_bounded_lru(demo):
    demo.share_images = True
    demo.features = FeatureCache()
    demo.sharer.carry = None
    demo.generate(_distinct(6))  # a direct call: no plan, so every image is kept (LRU)
    c = demo.counters()["feature_cache"]
    assert c["entries"] == 6 and c["bytes"] == c["peak_bytes"] > 0
    one = c["bytes"] // 6
    demo.features = FeatureCache(max_bytes=3 * one)
    demo.sharer.carry = None  # no prefix kept from the first call: all six are looked up
    demo.generate(_distinct(6))
    c = demo.counters()["feature_cache"]
    assert c["entries"] == 3 and c["evicted"] == 3 and c["misses"] == 6
    assert c["peak_bytes"] <= c["max_bytes"] == 3 * one
    assert set(demo.counters()) >= {
        "images",
        "images_encoded",
        "prefill_tokens",
        "encode",
        "prefill",
        "decode",
        "preprocess",
        "generated_tokens",
    }
