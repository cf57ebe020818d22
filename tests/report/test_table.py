"""The paper's table from run folders: order, units, missing cells, bold, paper block, differences,
and the five renderings."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.report.detail import build_detailed
from harness.report.table import build_table

from .runfolders import docvqa_records, install_fakes, make_grid, md_blocks, write_run

PAPER_DIR = Path(__file__).resolve().parents[2] / "results" / "paper"
HEADER = [
    "Encoder",
    "GQA",
    "OKVQA",
    "ChartQA",
    "DocVQA",
    "InfoVQA",
    "OCRBench",
    "POPE",
    "MME",
    "SEED-Image",
    "MathVista",
]
# The authors' README table, typed from it (the "seed" table of the issue), in its printed
# precision.
README = [
    [
        "CLIP-L",
        "62.34",
        "56.97",
        "51.96",
        "57.19",
        "29.31",
        "382",
        "84.67",
        "1503.60",
        "69.79",
        "42.7",
    ],
    [
        "SigLIP",
        "63.02",
        "61.06",
        "56.48",
        "61.97",
        "29.70",
        "429",
        "85.93",
        "1489.37",
        "71.63",
        "44.2",
    ],
    [
        "UNIT-600M",
        "63.89",
        "61.52",
        "61.0",
        "65.49",
        "31.92",
        "480",
        "85.81",
        "1529.76",
        "72.81",
        "44.6",
    ],
    [
        "UNIT-1B",
        "64.90",
        "56.78",
        "66.64",
        "71.34",
        "34.81",
        "540",
        "87.54",
        "1531.92",
        "73.15",
        "44.3",
    ],
]
D = "—"


def test_the_paper_folder_alone_reproduces_the_readme_table():
    table = build_table([PAPER_DIR])
    [block] = md_blocks(table.to_markdown())
    assert block[0] == HEADER
    assert block[1:] == README


def test_grid_rows_columns_missing_cells_and_bold(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    md = build_table([grid]).to_markdown()
    [block] = md_blocks(md)
    assert block[0] == HEADER
    assert block[1] == ["CLIP-L (demo)", D, D, D, "75.00 (1 failed)", D, D, "85.71", "325.00", D, D]
    assert block[2] == ["UNIT-1B (demo)", D, D, D, "100.00", D, D, "66.67", D, D, D]
    # best per column in bold; a column with a single value has no best
    assert "| **100.00** |" in md and "| **85.71** |" in md
    assert "**75.00**" not in md and "**325.00**" not in md
    assert "docvqa: 1 failed sample(s), counted as wrong (CLIP-L (demo))" in md


def test_grid_order_follows_the_grid_config(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch, order=("demo_unit_1b", "demo_clip_l"))
    assert [r.label for r in build_table([grid]).runs] == ["UNIT-1B (demo)", "CLIP-L (demo)"]
    (grid / "config.yaml").unlink()  # no config: the paper's family order
    assert [r.label for r in build_table([grid]).runs] == ["CLIP-L (demo)", "UNIT-1B (demo)"]
    # run folders named one by one keep the order given
    runs = build_table([grid / "demo_unit_1b", grid / "demo_clip_l"]).runs
    assert [r.label for r in runs] == ["UNIT-1B (demo)", "CLIP-L (demo)"]


def test_paper_block_and_signed_differences(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    for tables in (build_table([grid], paper=True), build_table([grid, PAPER_DIR])):
        runs, paper, diff = md_blocks(tables.to_markdown())
        assert paper[1:] == README
        # the demo runs were scored under today's lmms-eval, not the paper's v0.2.x: marked
        assert diff[1] == [
            "CLIP-L (demo) − CLIP-L",
            D,
            D,
            D,
            "+17.81†",
            D,
            D,
            "+1.04†",
            "-1178.60†",
            D,
            D,
        ]
        assert diff[2] == ["UNIT-1B (demo) − UNIT-1B", D, D, D, "+28.66†", D, D, "-20.87†", D, D, D]
        assert runs[1] == [
            "CLIP-L (demo)",
            D,
            D,
            D,
            "75.00† (1 failed)",
            D,
            D,
            "85.71†",
            "325.00†",
            D,
            D,
        ]
    md = build_table([grid], paper=True).to_markdown()
    assert "**Paper: UNIT (Zhu et al., NeurIPS 2024, arXiv:2409.04095)**" in md
    assert "| **64.90** |" in md  # the paper block has its own best values


def test_no_family_match_gives_a_note_instead_of_differences(tmp_path, monkeypatch):
    install_fakes(monkeypatch)
    run = write_run(
        tmp_path / "r", "mine", "My encoder", None, {"docvqa": docvqa_records([("a", ["a"])])}
    )
    doc = build_table([run], paper=True).doc
    assert len(doc.blocks) == 2
    assert any("matches a paper row" in n for n in doc.notes)


def test_same_labels_are_told_apart(tmp_path, monkeypatch):
    install_fakes(monkeypatch)
    recs = {"docvqa": docvqa_records([("a", ["a"])])}
    a = write_run(
        tmp_path / "oracle" / "r", "demo_clip_l", "CLIP-L (demo)", "clip_l", recs, model="oracle"
    )
    b = write_run(
        tmp_path / "mllm" / "r", "demo_clip_l", "CLIP-L (demo)", "clip_l", recs, model="mllm"
    )
    assert [r.label for r in build_table([a, b]).runs] == [
        "CLIP-L (demo) [oracle]",
        "CLIP-L (demo) [mllm]",
    ]


def test_csv_is_machine_readable(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    rows = list(csv.reader(io.StringIO(build_table([grid]).to_csv())))
    assert rows[0] == [
        "encoder",
        "gqa",
        "okvqa",
        "chartqa",
        "docvqa",
        "infovqa",
        "ocrbench",
        "pope",
        "mme",
        "seed",
        "mathvista",
    ]
    assert rows[1][0] == "CLIP-L (demo)" and rows[1][1] == ""  # missing: empty
    assert float(rows[1][4]) == 75.0 and float(rows[1][7]) == pytest.approx(600 / 7)
    with_paper = list(csv.reader(io.StringIO(build_table([grid], paper=True).to_csv())))
    assert with_paper[0][:2] == ["block", "encoder"]
    paper_rows = [r for r in with_paper if r[0].startswith("Paper")]
    assert [r[1:] for r in paper_rows] == README


def test_latex_is_a_booktabs_table(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    tex = build_table([grid], paper=True).to_latex()
    lines = tex.splitlines()
    assert lines[:2] == ["\\begin{table}[t]", "\\centering"] and lines[-1] == "\\end{table}"
    assert "\\begin{tabular}{l" + "r" * 10 + "}" in lines
    assert (
        tex.count("\\toprule") == 1
        and tex.count("\\bottomrule") == 1
        and tex.count("\\midrule") == 3
    )
    assert lines.index("\\toprule") < lines.index("\\bottomrule")
    rows = [ln for ln in lines if ln.endswith("\\\\") and "multicolumn" not in ln]
    assert len(rows) == 1 + 2 + 4 + 2 and all(ln.count("&") == 10 for ln in rows)
    assert (
        "\\textbf{100.00$^{\\dagger}$}" in tex
        and "$-1178.60^{\\dagger}$" in tex
        and "CLIP-L (demo) --- CLIP-L" not in tex
    )
    assert "\\multicolumn{11}{l}{\\textit{Paper: UNIT" in tex
    assert not re.search(r"(?<!\\)[%_]", tex.replace("\\%", "").replace("\\_", ""))


@pytest.mark.skipif(
    shutil.which("pdflatex") is None, reason="pdflatex not installed (structure checked above)"
)
def test_latex_compiles_with_booktabs(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    body = (
        build_table([grid], paper=True).to_latex()
        + build_table([PAPER_DIR]).to_latex()
        + build_detailed([grid], paper=True, n_resamples=100).render("latex")
    )
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
        + body
        + "\\end{document}\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert (tmp_path / "t.pdf").stat().st_size > 1000


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.strong, self._in = [], 0, False

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.rows[-1].append("")
            self._in = True
        elif tag == "strong":
            self.strong += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._in = False

    def handle_data(self, data):
        if self._in:
            self.rows[-1][-1] += data


def test_html_table(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    parser = _Cells()
    parser.feed(build_table([grid], paper=True).to_html())
    assert parser.rows[0] == HEADER
    assert parser.rows[1] == [
        "CLIP-L (demo)",
        D,
        D,
        D,
        "75.00† (1 failed)",
        D,
        D,
        "85.71†",
        "325.00†",
        D,
        D,
    ]
    assert parser.rows[3][0].startswith("Paper: UNIT") and parser.rows[4:8] == README
    assert parser.strong == 2 + 10  # runs: DocVQA, POPE; paper: one best per column


def test_text_is_aligned(tmp_path, monkeypatch):
    grid = make_grid(tmp_path / "grid", monkeypatch)
    lines = build_table([grid]).to_text().splitlines()
    header = next(ln for ln in lines if ln.startswith("Encoder"))
    row = next(ln for ln in lines if ln.startswith("UNIT-1B (demo)"))
    # numbers are right-aligned under their header; the best value carries "*"
    assert row.index("100.00*") + len("100.00") == header.index("DocVQA") + len("DocVQA")
    assert "* best in column" in lines


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(HarnessError, match="run folder not found"):
        build_table([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(HarnessError, match="no scores.json"):
        build_table([tmp_path / "empty"])
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "scores.json").write_text("{not json")
    with pytest.raises(HarnessError, match=r"bad/scores.json: not valid JSON"):
        build_table([tmp_path / "bad"])
    (tmp_path / "bad" / "scores.json").write_text('{"docvqa": {"n": 3}}')
    with pytest.raises(HarnessError, match="task 'docvqa' has no 'value'"):
        build_table([tmp_path / "bad"])


def test_a_column_where_every_row_ties_has_no_bold():
    from harness.report.render import Cell
    from harness.report.table import _bold_best

    rows = [
        [Cell("a"), Cell("0.00", raw=0.0), Cell("5.00", raw=5.0)],
        [Cell("b"), Cell("0.00", raw=0.0), Cell("5.00", raw=5.0)],
        [Cell("c"), Cell("0.00", raw=0.0), Cell("7.00", raw=7.0)],
    ]
    _bold_best(rows)
    assert [r[1].bold for r in rows] == [False, False, False]
    assert [r[2].bold for r in rows] == [False, False, True]


def test_the_table_is_built_from_the_results_frame(tmp_path, monkeypatch):
    from harness.report.table import paper_difference
    from harness.results import load_runs

    grid = make_grid(tmp_path / "grid", monkeypatch)
    table = build_table([grid], paper=True)
    own = table.frame[table.frame.source == "run"].reset_index(drop=True)
    assert own.equals(load_runs([grid], ci="none", metrics="all"))  # notebook users' rows
    diff = paper_difference(table.frame)
    row = diff.loc[(str(grid / "demo_clip_l"), "mme")]
    assert row["diff"] == pytest.approx(325.0 - 1503.60)
    [_, _, diff_block] = md_blocks(table.to_markdown())
    assert diff_block[1][8] == f"{row['diff']:+.2f}†"  # the printed difference is the frame's
    # a run folder named twice: two rows in the table, one set of numbers
    twice = build_table([grid / "demo_clip_l", grid / "demo_clip_l"], paper=True)
    rows = md_blocks(twice.to_markdown())[0]
    assert rows[1][1:] == rows[2][1:]
