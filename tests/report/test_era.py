"""The --paper table marks cells not scored under the paper's protocol (lmms-eval v0.2.x)."""

from __future__ import annotations

from harness.report.era import MARK
from harness.report.table import build_table

from .runfolders import docvqa_records, install_fakes, md_blocks, write_run

RIGHT = [("invoice", ["invoice"]), ("1992", ["1992"]), ("Dan", ["dan"]), ("zzzzzz", ["total"])]


def _grid(tmp_path, monkeypatch, protocols: dict[str, str]):
    install_fakes(monkeypatch)
    for name, protocol in protocols.items():
        family = name.removeprefix("demo_")
        write_run(
            tmp_path / name,
            name,
            f"{family} (demo)",
            family,
            {"docvqa": docvqa_records(RIGHT)},
            scores_extra={"docvqa": {"protocol": protocol}},
        )
    return tmp_path


def test_only_cells_off_the_papers_protocol_are_marked_with_one_legend(tmp_path, monkeypatch):
    grid = _grid(
        tmp_path, monkeypatch, {"demo_clip_l": "lmms-eval-0.2", "demo_unit_1b": "lmms-eval"}
    )
    table = build_table([grid], paper=True)
    runs, _paper, diff = md_blocks(table.to_markdown())
    docvqa = runs[0].index("DocVQA")
    cells = {row[0]: row[docvqa] for row in runs[1:]}
    assert cells == {"clip_l (demo)": "75.00", "unit_1b (demo)": f"75.00{MARK}"}
    diffs = {row[0].split(" − ")[0]: row[docvqa] for row in diff[1:]}
    assert not diffs["clip_l (demo)"].endswith(MARK) and diffs["unit_1b (demo)"].endswith(MARK)
    legends = [n for n in table.doc.notes if n.startswith(MARK)]
    assert (
        len(legends) == 1 and "protocol lmms-eval," in legends[0] and "protocol=paper" in legends[0]
    )
    for fmt in ("md", "text", "html", "csv", "latex"):
        out = table.render(fmt)
        assert ("dagger" if fmt == "latex" else MARK) in out or fmt == "csv", fmt


def test_no_mark_without_the_paper_or_when_every_cell_is_paper_era(tmp_path, monkeypatch):
    grid = _grid(
        tmp_path / "a", monkeypatch, {"demo_clip_l": "lmms-eval", "demo_unit_1b": "lmms-eval"}
    )
    plain = build_table([grid]).to_markdown()
    assert MARK not in plain
    paper_era = _grid(
        tmp_path / "b", monkeypatch, {"demo_clip_l": "lmms-eval-0.2", "demo_unit_1b": "paper"}
    )
    md = build_table([paper_era], paper=True).to_markdown()
    assert MARK not in md
    assert build_table([paper_era], paper=True).to_csv().count(MARK) == 0
