"""meta.json tells the truth about a run: the settings in effect, the model's counters, and
wall-clock phases from the run's origin with end-to-end and engine rates, each labelled."""

from __future__ import annotations

import json

import pytest

from harness.runner import run

PHASES = (
    "startup",
    "config_and_data",
    "device_and_output",
    "model_load",
    "engine",
    "scoring",
    "writing",
)
COUNTERS = ("images", "images_encoded", "prefill_tokens", "generated_tokens")


def _meta(compose_cfg, out, *overrides):
    run(compose_cfg(f"output_dir={out}", "device=cpu", "task=pope", "data=demo", *overrides))
    return json.loads((out / "meta.json").read_text())


def _check_timing(meta):
    t = meta["timing"]
    phases = t["phases_s"]
    assert set(PHASES) <= set(phases), phases
    assert all(v >= 0 for v in phases.values()), phases
    # consecutive spans of one clock: together no more than the end-to-end wall (rounding)
    assert sum(phases.values()) <= t["end_to_end_s"] + 0.01
    assert t["unaccounted_s"] >= -0.01
    assert t["engine_s"] <= phases["engine"] + 0.01
    assert t["samples"] == sum(s["n"] + s["failed"] for s in meta["tasks"].values())
    assert 0 < t["samples_per_s_end_to_end"] <= t["samples_per_s_engine"]
    assert meta["samples_per_second"] == t["samples_per_s_end_to_end"]
    assert meta["wall_time_s"] == t["end_to_end_s"]
    assert t["origin"] == "run() call"  # in-process: measured from the call, and says so


def test_threads_written_by_the_user_are_the_threads_reported(compose_cfg, tmp_path):
    meta = _meta(
        compose_cfg, tmp_path / "run", "encoder=demo_clip_l", "model.cpu_threads=2", "limit=4"
    )
    assert meta["settings"]["cpu_threads"] == 2 and meta["settings"]["cpu_threads_requested"] == 2


@pytest.mark.parametrize("share", [True, False])
def test_demo_mllm_run_reports_settings_counters_and_phases(compose_cfg, tmp_path, share):
    out = tmp_path / "run"
    meta = _meta(
        compose_cfg, out, "encoder=demo_clip_l", f"share_images={str(share).lower()}", "limit=30"
    )
    s = meta["settings"]
    assert s["share_images"] is share and s["share_images_requested"] is share
    assert (s["limit"], s["dtype"], s["device"], s["batch_size"]) == (30, "fp32", "cpu", 16)
    assert s["batch_size_used"] == {"pope": 16} and "num_workers_used" in s
    assert s["feature_cache_bytes"] == meta["config"]["model"]["feature_cache_bytes"]
    # the demo MLLM computes on one intra-op thread whatever torch's default: that is reported
    assert s["cpu_threads"] == 1 and s["cpu_threads_requested"] is None
    c = meta["counters"]
    assert set(COUNTERS) <= set(c), c
    assert c["images"] == 30 and c["generated_tokens"] >= 30 and c["prefill_tokens"] > 0
    assert {"entries", "bytes", "hits"} <= set(c["feature_cache"])
    if share:  # POPE asks several questions per image: each encoded once
        assert 0 < c["images_encoded"] < c["images"]
    else:
        assert c["images_encoded"] == c["images"]
    assert meta["tasks"]["pope"]["counters"]["images"] == 30  # this task's share
    _check_timing(meta)
    parts = meta["timing"]["engine_parts_s"]
    assert {"waiting_for_data", "encode", "prefill", "decode"} <= set(parts), parts
    assert meta["model"]["load_seconds"] == pytest.approx(
        meta["timing"]["phases_s"]["model_load"], abs=0.002
    )


def test_oracle_run_reports_phases_and_no_counters(compose_cfg, tmp_path):
    meta = _meta(compose_cfg, tmp_path / "o", "model=oracle", "num_workers=2")
    assert meta["counters"] == {}
    assert meta["settings"]["num_workers"] == 2  # asked
    assert meta["settings"]["num_workers_used"] == {"pope": 0}  # the oracle prepares nothing
    assert meta["settings"]["share_images"] is False  # the oracle cannot share image work
    _check_timing(meta)
