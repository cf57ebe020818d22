"""harness.bench end to end on a demo MLLM: the report's shape and its correctness fields
(no timing is asserted: timings depend on the machine)."""

from __future__ import annotations

import json

import pytest

from harness import bench


def test_copies_repeat_samples_under_new_ids():
    class T:
        name = "t"

        def docs(self):
            return [{"id": "a", "x": 1}, {"id": "b", "x": 2}]

    c = bench.Copies(T(), 3)
    docs = c.docs()
    assert len(docs) == 6 and c.name == "t"
    assert [d["id"] for d in docs] == ["a#0", "b#0", "a#1", "b#1", "a#2", "b#2"] and docs[3][
        "x"
    ] == 2


def test_bench_writes_json_and_markdown_with_identical_answers(tmp_path, capsys):
    result = bench.main(
        [
            "task=seed",
            "encoder=demo_siglip",
            "--batch-sizes",
            "1",
            "4",
            "--copies",
            "1",
            "--repeat",
            "2",
            "--shared-images",
            "3",
            "--per-image",
            "4",
            "--out",
            str(tmp_path),
        ]
    )
    name = "demo_siglip-seed-cpu"
    saved = json.loads((tmp_path / f"{name}.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(result["runs"]))
    assert [r["config"] for r in saved["runs"]] == [
        "plain batch-1 loop",
        "engine batch 1",
        "engine batch 4",
        "engine batch 1, generated set",
        "engine batch 4, generated set",
    ]
    assert saved["sets"]["generated"] == {
        "samples": 12,
        "share_images": True,
        "images": 3,
        "questions_per_image": 4,
    }
    assert saved["samples"] == saved["distinct_samples"] > 0 and saved["copies"] == 1
    for row in saved["runs"]:
        assert row["generated_tokens"] > 0 and row["samples_per_s"] > 0
        assert {"encode", "prefill", "decode", "harness"} <= set(row["split_s"])
        # finished sequences leave the batch: at most one decode row per generated token
        assert row["decode_rows_per_token"] is not None and row["decode_rows_per_token"] <= 1.0
    # batching and the engine change no answer of the plain batch-1 loop
    assert [r["differs_from_plain_loop"] for r in saved["runs"][1:3]] == [0, 0]
    for row in saved["runs"][1:]:
        # the floor ran the same rows and answered every one as the engine did
        assert row["floor_rows"] == (12 if row["set"] == "generated" else saved["samples"])
        assert row["floor_differs"] == 0
        assert {"encode", "prefill", "decode"} <= set(row["floor_split_s"])
        # the overhead is computed from the measured walls: median, and per round
        wall, fw = row["wall_s"], row["floor_wall_s"]
        assert row["overhead_vs_floor"] == pytest.approx((wall - fw) / fw, rel=1e-2, abs=1e-3)
        per_round = [(e - f) / f for e, f in zip(row["walls_s"], row["floor_walls_s"])]
        assert row["overhead_vs_floor_range"] == pytest.approx(
            [min(per_round), max(per_round)], rel=1e-2, abs=1e-3
        )
        assert row["overhead_vs_floor_paired"] == pytest.approx(
            sorted(per_round)[len(per_round) // 2], rel=1e-2, abs=1e-3
        )
        # page faults are counted in both (a diagnostic: the engine's allocations vs the floor's)
        assert row["minor_page_faults"] > 0 and row["floor_minor_page_faults"] > 0
        key = f"batch{row['batch_size']}_{row['set']}"
        assert saved["checks"][f"overhead_vs_floor_{key}"] == row["overhead_vs_floor"]
    assert saved["runs"][2]["model_calls"] < saved["runs"][1]["model_calls"]
    # sharing on the generated set: each scene encoded once, in the engine and in the floor
    assert saved["runs"][4]["prefixes_computed"] == 3
    for row in saved["runs"][1:]:  # the floor did the engine's model work, no more, no less
        assert row["floor_counts"] == {
            k: row[k]
            for k in ("generated_tokens", "prefill_tokens", "images_encoded", "prefixes_computed")
        }
    assert saved["runs"][4]["images_encoded"] == 3  # the generated set's scenes, once each
    md = (tmp_path / f"{name}.md").read_text()
    assert md.startswith("# Throughput: SigLIP (demo) on seed") and "| engine batch 4 |" in md
    # each row names its set and the images its run encoded
    assert "| engine batch 4, generated set | generated | 12 | 3 |" in md
    assert "written:" in capsys.readouterr().out


@pytest.mark.parametrize("arg", ["limit=3", "batch_size=4", "share_images=false", "+seed=1"])
def test_run_settings_the_bench_sets_itself_are_refused_not_ignored(arg):
    from harness.errors import ConfigError

    key = arg.lstrip("+").split("=")[0]
    with pytest.raises(ConfigError, match=f"^\\+?{key}=.*does not apply"):
        bench.main([arg, "--repeat", "1"])
