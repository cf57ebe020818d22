"""Memory that does not grow with the number of rows (issue 15), on generated DocVQA-layout sets
(one question per distinct image, the real hub format through the real task loader).

- ``model=oracle`` run end to end (``python -m harness``) in a fresh process at 1,000 and 16,000
  rows: peak anonymous memory (RssAnon, sampled; the memory-mapped dataset's pages are
  file-backed and are left out, see :mod:`harness.bench_scale`) grows by at most a few KiB per
  row (the row's record and planned sample), not by its image or a model's cache;
- the tiny demo MLLM through the engine: the image-feature cache holds only images that a
  later batch asks about and frees them after their last use, so its peak is a few entries
  whatever the size of the set, and nothing is left at the end.

Timing is measured by ``python -m harness.bench_scale``, not here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.bench_scale import MAX_PEAK_RATIO, build_docvqa_set, run_once
from tests.models.test_sharing import UNIT_DEMO

MAX_KIB_PER_ROW = 1.5
"""What a row may add to the oracle run's peak anonymous memory, on a set's second run (its first
also converts the parquet files to datasets' cache, once per set and machine: 2.7 KiB a row).
Measured: 0.89 KiB a row (``python -m harness.bench_scale``): the row's planned document and
request, packed (about 0.1 KiB, see harness.engine.packing), its digest and id, and its record
as its JSON line (about 0.25 KiB; scoring decodes records as it reads them, see
harness.jsonl.Records). Before the plan kept rows (and with torch imported for nothing) a row
added 11 KiB; with the plan's rows as Python objects, 2.6-4.3; with the records as dicts, 1.5.
"""


@pytest.mark.slow
def test_oracle_peak_memory_at_16k_rows_is_within_the_issues_bound_of_1k(tmp_path):
    peaks: dict[int, list[int]] = {}
    for n in (1000, 16000):
        folder = build_docvqa_set(tmp_path / f"docvqa-{n}", n)
        run_once("oracle", folder, n, tmp_path)  # the set's first run builds datasets' cache
        res = run_once("oracle", folder, n, tmp_path)
        assert not res["torch_imported"]  # an oracle run never needs torch
        peaks[n] = [res["peak_anon_kib"]]

    def ratio() -> float:
        return min(peaks[16000]) / min(peaks[1000])

    if ratio() > MAX_PEAK_RATIO:  # a shared machine's noise: the best of two, as the bench does
        for n in peaks:
            folder = tmp_path / f"docvqa-{n}"
            peaks[n].append(run_once("oracle", folder, n, tmp_path)["peak_anon_kib"])
    per_row = (min(peaks[16000]) - min(peaks[1000])) / 15000
    assert ratio() <= MAX_PEAK_RATIO, (peaks, f"{ratio():.3f}", f"{per_row:.2f} KiB per row")
    assert per_row <= MAX_KIB_PER_ROW, (peaks, f"{per_row:.2f} KiB per row")


def _shared_rows(n_images: int, per_image: int) -> list[dict]:
    from harness.bench_scale import docvqa_rows

    rows = []
    for img, row in enumerate(docvqa_rows(n_images, seed=1)):
        for q in range(per_image):
            rows.append(
                dict(
                    row,
                    questionId=str(200000 + img * per_image + q),
                    question=f"Question {q} about page {img}?",
                )
            )
    return rows


def _docvqa_task(folder: Path):
    from harness.tasks.docvqa import DocVQA

    return DocVQA(
        {
            "dataset": {"path": str(folder), "name": "DocVQA", "split": "validation"},
            "max_new_tokens": 1,
        }
    )


def _write(folder: Path, rows: list[dict]) -> Path:

    from harness.demo.hub import write_hub_dataset
    from harness.demo.sets.docvqa import features

    feats = features()
    return write_hub_dataset(folder, {"DocVQA": {"validation": rows}}, feats)


@pytest.fixture(scope="module")
def tiny(cache_dir):
    from harness.demo.models import demo_cfg
    from harness.device import resolve_device
    from harness.models.mllm import load_mllm

    return load_mllm(demo_cfg(UNIT_DEMO, cache_dir), UNIT_DEMO, resolve_device("cpu", "fp32"))


def _run(model, folder: Path, tmp: Path, batch_size: int = 8) -> tuple[dict, dict]:
    from harness.engine import EngineSettings, run_task
    from harness.models.featcache import FeatureCache

    model.features = FeatureCache(model.features.max_bytes)
    model.timings = dict.fromkeys(model.timings, 0.0)
    result = run_task(
        _docvqa_task(folder),
        model,
        tmp,
        EngineSettings(batch_size=batch_size, progress=False, share_images=True),
    )
    assert result.n_failed == 0
    return model.counters(), {r["id"]: r["prediction"] for r in result.records}


def _count_captures(tiny, monkeypatch) -> list[int]:
    """Count the sharer's prefix captures (a copy of the batch's last prompt prefix, every layer's
    keys and values, kept for the next batch)."""
    calls = []
    capture = tiny.sharer.capture

    def counted(*args, **kwargs):
        calls.append(1)
        return capture(*args, **kwargs)

    monkeypatch.setattr(tiny.sharer, "capture", counted)
    return calls


def test_feature_cache_keeps_nothing_when_no_image_is_asked_about_twice(
    tiny, tmp_path, monkeypatch
):
    from harness.bench_scale import docvqa_rows

    captures = _count_captures(tiny, monkeypatch)
    small, _ = _run(tiny, _write(tmp_path / "a", docvqa_rows(24)), tmp_path / "ra")
    large, _ = _run(tiny, _write(tmp_path / "b", docvqa_rows(120)), tmp_path / "rb")
    # no prefix is copied for a next batch that the plan knows does not ask about its image
    assert not captures and tiny.sharer.carry is None
    for counters, n in ((small, 24), (large, 120)):
        cache = counters["feature_cache"]
        assert counters["images_encoded"] == n and cache["misses"] == n
        # one use per image: nothing is put in memory, whatever the number of rows
        assert cache["peak_entries"] == 0 and cache["peak_bytes"] == 0 and cache["entries"] == 0


def test_feature_cache_frees_each_image_after_its_last_batch(tiny, tmp_path):
    from harness.models.featcache import FeatureCache

    # 3 questions per page in batches of 4: most pages straddle two batches
    folder = _write(tmp_path / "s", _shared_rows(40, 3))
    tiny.features = FeatureCache()
    counters, predictions = _run(tiny, folder, tmp_path / "rs", 4)
    cache = counters["feature_cache"]
    assert counters["images_encoded"] == 40  # each page encoded once (cache or carried prefix)
    assert cache["entries"] == 0 and cache["bytes"] == 0  # every page freed after its last use
    assert cache["peak_entries"] <= 2  # only pages whose questions continue in a later batch
    assert cache["evicted"] == 0 and cache["freed_after_last_use"] >= cache["peak_entries"]
    # the user's bound holds, and the answers do not depend on it
    tiny.features = FeatureCache(max_bytes=0)
    bounded, same = _run(tiny, folder, tmp_path / "rz", 4)
    assert bounded["feature_cache"]["peak_bytes"] == 0 and same == predictions
