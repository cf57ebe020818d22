"""One table model, five renderings: Markdown, CSV, LaTeX (booktabs), HTML and aligned text.

A :class:`Doc` is a header plus blocks of rows; a block may carry a title (the paper block,
the difference block). Cells carry the printed text, a bold flag and the raw value for CSV.
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report.columns import MISSING


@dataclass
class Cell:
    text: str
    bold: bool = False
    raw: Any = None  # the CSV value; None prints empty


@dataclass
class Block:
    rows: list[list[Cell]]  # first cell of each row: the row label
    title: str | None = None


@dataclass
class Doc:
    header: list[str]  # first entry heads the label column
    keys: list[str]  # machine names of the columns (CSV header)
    blocks: list[Block] = field(default_factory=list)
    caption: str = ""
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        align = "|" + "|".join([":---"] + ["---:"] * (len(self.header) - 1)) + "|"
        parts = [self.caption] if self.caption else []
        for block in self.blocks:
            lines = [f"**{block.title}**", ""] if block.title else []
            lines += [_md_row(self.header), align]
            lines += [
                _md_row([f"**{c.text}**" if c.bold else c.text for c in row]) for row in block.rows
            ]
            parts.append("\n".join(lines))
        parts += self.notes
        return "\n\n".join(parts) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        multi = len(self.blocks) > 1
        w.writerow((["block"] if multi else []) + self.keys)
        for block in self.blocks:
            for row in block.rows:
                values = [row[0].text] + ["" if c.raw is None else c.raw for c in row[1:]]
                w.writerow(([block.title or ""] if multi else []) + values)
        return buf.getvalue()

    def to_latex(self) -> str:
        ncol = len(self.header)
        out = ["\\begin{table}[t]", "\\centering"]
        if self.caption:
            out.append(f"\\caption{{{latex_text(self.caption)}}}")
        out += [
            f"\\begin{{tabular}}{{l{'r' * (ncol - 1)}}}",
            "\\toprule",
            " & ".join(latex_text(h) for h in self.header) + " \\\\",
            "\\midrule",
        ]
        for i, block in enumerate(self.blocks):
            if i:
                out.append("\\midrule")
            if block.title:
                out.append(
                    f"\\multicolumn{{{ncol}}}{{l}}{{\\textit{{{latex_text(block.title)}}}}} \\\\"
                )
            for row in block.rows:
                cells = [latex_cell(c) for c in row]
                out.append(" & ".join(cells) + " \\\\")
        out.append("\\bottomrule")
        out.append("\\end{tabular}")
        for note in self.notes:
            out.append(f"\\par\\smallskip{{\\footnotesize {latex_text(note)}}}")
        out.append("\\end{table}")
        return "\n".join(out) + "\n"

    def to_html(self) -> str:
        e = html.escape
        out = ['<table class="unit-report">']
        if self.caption:
            out.append(f"<caption>{e(self.caption)}</caption>")
        out.append(
            "<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in self.header) + "</tr></thead>"
        )
        for block in self.blocks:
            out.append("<tbody>")
            if block.title:
                out.append(
                    f'<tr><th colspan="{len(self.header)}" style="text-align:left">'
                    f"<em>{e(block.title)}</em></th></tr>"
                )
            for row in block.rows:
                tds = [f'<th style="text-align:left">{e(row[0].text)}</th>']
                tds += [
                    '<td style="text-align:right">'
                    + (f"<strong>{e(c.text)}</strong>" if c.bold else e(c.text))
                    + "</td>"
                    for c in row[1:]
                ]
                out.append("<tr>" + "".join(tds) + "</tr>")
            out.append("</tbody>")
        out.append("</table>")
        out += [f"<p>{e(n)}</p>" for n in self.notes]
        return "\n".join(out) + "\n"

    def to_text(self) -> str:
        """Aligned columns for a terminal; the best value of a column is marked ``*``."""
        rows = [
            [c.text + ("*" if c.bold else " ") if j else c.text for j, c in enumerate(r)]
            for b in self.blocks
            for r in b.rows
        ]
        head = [h if j == 0 else h + " " for j, h in enumerate(self.header)]
        widths = [max(len(x[j]) for x in [head] + rows) for j in range(len(head))]

        def line(cells: Sequence[str]) -> str:
            return "  ".join(
                c.ljust(widths[0]) if j == 0 else c.rjust(widths[j]) for j, c in enumerate(cells)
            ).rstrip()

        out = [self.caption] if self.caption else []
        out += [line(head), "-" * len(line(head))]
        it = iter(rows)
        for block in self.blocks:
            if block.title:
                out.append(f"{block.title}:")
            out += [line(next(it)) for _ in block.rows]
        if any(c.bold for b in self.blocks for r in b.rows for c in r):
            out.append("* best in column")
        out += self.notes
        return "\n".join(out) + "\n"

    def render(self, fmt: str) -> str:
        renderers = {
            "md": self.to_markdown,
            "markdown": self.to_markdown,
            "csv": self.to_csv,
            "latex": self.to_latex,
            "tex": self.to_latex,
            "html": self.to_html,
            "text": self.to_text,
        }
        if fmt not in renderers:
            from harness.errors import HarnessError

            raise HarnessError(f"unknown format {fmt!r}; valid: md, latex, csv, html, text")
        return renderers[fmt]()


def _md_row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


_LATEX_SPECIAL = {
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
    MISSING: "---",
    "±": r"$\pm$",
    "Δ": r"$\Delta$",
    "−": "$-$",
    "×": r"$\times$",
    "†": r"$^{\dagger}$",
}


def latex_text(text: str) -> str:
    r"""Escape text for LaTeX.

    >>> latex_text("UNIT_1B & 50% — ±")
    'UNIT\\_1B \\& 50\\% --- $\\pm$'
    """
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


_SIGNED = re.compile(r"^[+-]\d")


def latex_cell(cell: Cell) -> str:
    r"""A table cell: signed numbers in math mode (a real minus sign), bold as ``\textbf``.

    >>> latex_cell(Cell("-1.50")), latex_cell(Cell("62.34", bold=True)), latex_cell(Cell("+2.00†"))
    ('$-1.50$', '\\textbf{62.34}', '$+2.00^{\\dagger}$')
    """
    if _SIGNED.match(cell.text):
        text = "$" + cell.text.replace("†", "^{\\dagger}") + "$"
    else:
        text = latex_text(cell.text)
    return f"\\textbf{{{text}}}" if cell.bold else text
