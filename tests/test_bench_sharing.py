"""harness.bench --sharing on a demo MLLM: the report's counts and identity fields (no timing is
asserted: timings depend on the machine; the measured numbers are in the report of issue 7)."""

from __future__ import annotations

import json

from harness import bench
from harness.bench_sharing import ImageSet


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


def test_sharing_bench_counts_work_once_per_image_with_identical_answers(tmp_path, capsys):
    result = bench.main(
        [
            "--sharing",
            "encoder=demo_siglip",
            "--images",
            "3",
            "--per-image",
            "4",
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
    assert (
        rows["grouped", "off"]["images_encoded"] == 12
        and rows["grouped", "on"]["images_encoded"] == 3
    )
    assert (
        rows["grouped", "on"]["prefixes_computed"] == 3
        and rows["grouped", "off"]["prefixes_computed"] == 0
    )
    assert rows["grouped", "on"]["prefill_tokens"] < rows["grouped", "off"]["prefill_tokens"]
    assert (
        rows["single", "on"]["prefill_tokens"] == rows["single", "off"]["prefill_tokens"]
    )  # nothing to share
    assert (
        rows["single", "on"]["images_encoded"] == 5
        and rows["single", "on"]["prefixes_computed"] == 0
    )
    assert (
        saved["checks"]["batch4_grouped_answers_differ"]
        == saved["checks"]["batch4_single_answers_differ"]
        == 0
    )
    # capped at 2 tokens (the fitted demo model may end an answer after one)
    assert all(r["samples"] <= r["generated_tokens"] <= 2 * r["samples"] for r in saved["runs"])
    md = (tmp_path / "sharing-demo_siglip-pope-cpu.md").read_text()
    assert (
        md.startswith("# Image sharing: SigLIP (demo), questions of pope")
        and "| grouped | 4 | on |" in md
    )
    assert "written:" in capsys.readouterr().out
