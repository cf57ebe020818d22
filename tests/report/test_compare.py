"""``--compare A B``: the paired table per benchmark."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.report.compare import build_compare

from .runfolders import docvqa_records, install_fakes, make_grid, md_blocks, pope_records, write_run


def test_compare_two_runs_per_benchmark(tmp_path, monkeypatch):
    install_fakes(monkeypatch)
    answers = [f"a{i}" for i in range(20)]
    pope = pope_records(
        [("yes", "yes", "r")] * 5
        + [("no", "yes", "r")] * 2
        + [("no", "no", "r")] * 10
        + [("yes", "no", "r")] * 3
    )  # F1 = 10 / 15
    # DocVQA: A right on 0..9, B right on 1..18 -> 50 vs 90, McNemar b=1 c=9, p = 22/1024 = 0.0215
    a = write_run(
        tmp_path / "a",
        "enc_a",
        "Enc A",
        None,
        {
            "docvqa": docvqa_records(
                [(x if i < 10 else "zzzz", [x]) for i, x in enumerate(answers)]
            ),
            "pope": pope,
        },
    )
    b = write_run(
        tmp_path / "b",
        "enc_b",
        "Enc B",
        None,
        {
            "docvqa": docvqa_records(
                [(x if 1 <= i <= 18 else "zzzz", [x]) for i, x in enumerate(answers)]
            ),
            "pope": pope,
        },
    )
    doc = build_compare(a, b, n_resamples=300)
    [block] = md_blocks(doc.to_markdown())
    assert block[0] == [
        "Benchmark",
        "Enc A",
        "Enc B",
        "Δ (B − A)",
        "95% CI of Δ",
        "p",
        "test",
        "paired n",
    ]
    docvqa, pope = block[1], block[2]
    assert docvqa[:4] == ["DocVQA", "50.00", "90.00", "+40.00"]
    assert docvqa[5:] == ["0.0215", "McNemar (exact)", "20"]
    lo, hi = (float(x) for x in docvqa[4].strip("[]").split(", "))
    assert 0 < lo < 40 < hi
    assert pope == [
        "POPE",
        "66.67",
        "66.67",
        "+0.00",
        "[+0.00, +0.00]",
        "1",
        "paired bootstrap",
        "20",
    ]


def test_compare_notes_tasks_in_one_run_only_and_untestable_tasks(tmp_path, monkeypatch):
    install_fakes(monkeypatch)
    recs = docvqa_records([("a", ["a"]), ("b", ["b"])])
    a = write_run(
        tmp_path / "a",
        "x",
        "X",
        None,
        {"docvqa": recs, "pope": pope_records([("yes", "yes", "r")])},
    )
    b = write_run(tmp_path / "b", "x", "X", None, {"docvqa": recs})
    doc = build_compare(a, b, n_resamples=50)
    assert doc.header[1:3] == ["A: X", "B: X"]
    assert any(n.startswith("Only in A: X: pope") for n in doc.notes)
    (b / "predictions" / "docvqa.jsonl").unlink()
    doc = build_compare(a, b, n_resamples=50)
    assert any("DocVQA: not tested (predictions file not found" in n for n in doc.notes)


def test_compare_needs_single_runs(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    with pytest.raises(HarnessError, match="needs one run folder, this holds 2 runs"):
        build_compare(grid, grid / "demo_clip_l")
    # two encoders of one grid compare fine on their common tasks
    doc = build_compare(grid / "demo_clip_l", grid / "demo_unit_1b", n_resamples=100)
    assert [r[0].text for r in doc.blocks[0].rows] == ["DocVQA", "POPE"]
    # the failed DocVQA sample of CLIP-L is left out: 4 pairs
    assert [r[-1].text for r in doc.blocks[0].rows] == ["4", "8"]
