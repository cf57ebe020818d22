"""harness.bench --sharing on a demo MLLM: the report's counts and identity fields (no timing is
asserted: timings depend on the machine; the measured numbers are in the report of issue 7)."""

from __future__ import annotations

import json

from harness import bench
from harness.bench_sharing import ImageSet, shaped_sets, spread


class _Task:
    name = "t"

    def docs(self):
        return [
            {"id": "a", "_index": 0, "question": "is it?"},
            {"id": "b", "_index": 1, "question": "what?"},
        ]


def test_image_set_asks_several_questions_about_each_scene():
    s = ImageSet(_Task(), "grouped", n_images=3, per_image=4, max_new_tokens=2)
    docs = s.docs()
    assert len(docs) == 12 and s.name == "t" and len({d["id"] for d in docs}) == 12
    assert [d["question"] for d in docs[:4]] == [
        "is it?",
        "what?",
        "is it?",
        "what?",
    ] and "_index" not in docs[0]
    images = [d["images"][0] for d in docs]
    assert len({r.data for r in images}) == 3 and images[0].data == images[3].data != images[4].data
    assert {r.key for r in images[4:8]} == {"grouped-1"} and images[0].data[
        :2
    ] == b"\xff\xd8"  # JPEG


def test_gqa_shaped_set_varies_questions_per_image():
    s = ImageSet(_Task(), "gqa", n_images=4, per_image=spread(4, 6), max_new_tokens=2)
    counts = [sum(d["images"][0].key == f"gqa-{i}" for d in s.docs()) for i in range(4)]
    assert counts == s.counts and all(3 <= c <= 9 for c in counts)
    assert s.per_image == sum(counts) / 4 and len(s.docs()) == sum(counts)


def test_shaped_sets_scale_images_not_questions_per_image():
    full = shaped_sets(_Task())
    assert {k: s.n_images for k, s in full.items()} == {"pope": 500, "gqa": 400, "single": 1000}
    assert full["pope"].counts == [18] * 500 and 28 <= full["gqa"].per_image <= 32
    small = shaped_sets(_Task(), scale=0.01)
    assert {k: s.n_images for k, s in small.items()} == {"pope": 5, "gqa": 4, "single": 10}
    assert small["pope"].per_image == 18 and set(small["single"].counts) == {1}


def test_sharing_bench_counts_work_once_per_image_with_identical_answers(tmp_path, capsys):
    result = bench.main(
        [
            "--sharing",
            "encoder=demo_siglip",
            "--images",
            "3",
            "--per-image",
            "4",
            "--gqa-images",
            "2",
            "--gqa-per-image",
            "6",
            "--single-images",
            "5",
            "--batch-sizes",
            "4",
            "--repeat",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    saved = json.loads((tmp_path / "sharing-demo_siglip-pope-cpu.json").read_text())
    assert saved["runs"] == json.loads(json.dumps(result["runs"]))
    rows = {(r["set"], r["sharing"]): r for r in saved["runs"]}
    gqa_rows = saved["sets"]["gqa"]["questions"]
    assert saved["sets"]["pope"]["questions"] == 12 and 6 <= gqa_rows <= 18
    for name, images, questions in (("pope", 3, 12), ("gqa", 2, gqa_rows)):
        off, on = rows[name, "off"], rows[name, "on"]
        assert off["images_encoded"] == questions and on["images_encoded"] == images
        assert on["prefixes_computed"] == images and off["prefixes_computed"] == 0
        assert on["prefill_tokens"] < off["prefill_tokens"]
        assert on["samples"] == off["samples"] == questions
        # the speed-up is the ratio of the two measured walls
        assert on["speedup_vs_unshared"] == round(off["wall_s"] / on["wall_s"], 2)
        assert len(on["speedup_per_round"]) == 1
    assert (
        rows["single", "on"]["prefill_tokens"] == rows["single", "off"]["prefill_tokens"]
    )  # nothing to share
    assert (
        rows["single", "on"]["images_encoded"] == 5
        and rows["single", "on"]["prefixes_computed"] == 0
    )
    # predictions identical with sharing on and off on every shaped set
    assert [saved["checks"][f"batch4_{k}_answers_differ"] for k in ("pope", "gqa", "single")] == [
        0,
        0,
        0,
    ]
    # capped at 2 tokens (the fitted demo model may end an answer after one)
    assert all(r["samples"] <= r["generated_tokens"] <= 2 * r["samples"] for r in saved["runs"])
    md = (tmp_path / "sharing-demo_siglip-pope-cpu.md").read_text()
    assert md.startswith("# Image sharing: SigLIP (demo), questions of pope") and (
        "| pope | 4 | on |" in md and "| gqa | 4 | on |" in md
    )
    assert "written:" in capsys.readouterr().out
