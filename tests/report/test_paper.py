"""The paper's numbers: the two copies agree, and they read back as printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.names import PAPER_TASKS
from harness.report.paper import load_paper

ROOT = Path(__file__).resolve().parents[2]


def test_package_copy_is_identical_to_results_paper():
    human, package = ROOT / "results" / "paper", ROOT / "harness" / "paper"
    names = sorted(p.name for p in human.iterdir())
    assert names == ["SOURCE.md", "paper_mme.csv", "paper_table.csv"]
    assert sorted(p.name for p in package.iterdir() if p.is_file()) == names
    for name in names:
        assert (human / name).read_bytes() == (package / name).read_bytes(), name


def test_source_cites_the_paper_and_the_readme():
    text = (ROOT / "results" / "paper" / "SOURCE.md").read_text()
    assert "2409.04095" in text and "NeurIPS 2024" in text and "README" in text


def test_values_read_back_as_printed():
    paper = load_paper()
    assert paper.families == ["clip_l", "siglip", "unit_600m", "unit_1b"]
    assert list(paper.cells["clip_l"]) == list(PAPER_TASKS)
    assert (
        paper.cells["unit_600m"]["chartqa"] == "61.0" and paper.cells["clip_l"]["mme"] == "1503.60"
    )
    assert paper.value("unit_1b", "ocrbench") == 540.0 and paper.value(None, "gqa") is None
    assert paper.mme["siglip"] == {"perception": "1489.3654", "cognition": "312.8571"}
    # the table's MME column is the perception score rounded to two decimals
    for fam in paper.families:
        assert f"{float(paper.mme[fam]['perception']):.2f}" == paper.cells[fam]["mme"]
    assert load_paper(ROOT / "results" / "paper").cells == paper.cells


def test_a_broken_paper_folder_is_a_clear_error(tmp_path):
    with pytest.raises(HarnessError, match="paper table not found"):
        load_paper(tmp_path)
    (tmp_path / "paper_table.csv").write_text("encoder,gqa\nclip_l,1\n")
    with pytest.raises(HarnessError, match="missing column"):
        load_paper(tmp_path)
