"""The UNIT paper's own numbers (``results/paper/``, shipped as ``harness/paper/`` package data).

Values are kept as the strings the paper prints (``61.0``, ``1503.60``) so a table of the
paper reproduces it character for character; ``float`` is taken only for differences and plots.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.names import PAPER_TASKS

TABLE_FILE = "paper_table.csv"
MME_FILE = "paper_mme.csv"
SOURCE = "UNIT (Zhu et al., NeurIPS 2024, arXiv:2409.04095)"

FAMILY_LABELS = {
    "clip_l": "CLIP-L",
    "siglip": "SigLIP",
    "unit_600m": "UNIT-600M",
    "unit_1b": "UNIT-1B",
}
"""Row labels as the paper's table prints them, keyed by an encoder config's ``family``."""


@dataclass
class PaperTable:
    """``cells[family][task]`` and ``mme[family]["perception"|"cognition"]``: printed strings."""

    cells: dict[str, dict[str, str]]
    mme: dict[str, dict[str, str]] = field(default_factory=dict)
    where: str = "harness/paper"

    @property
    def families(self) -> list[str]:
        return list(self.cells)

    def label(self, family: str) -> str:
        return FAMILY_LABELS.get(family, family)

    def value(self, family: str | None, task: str) -> float | None:
        text = self.cells.get(family or "", {}).get(task)
        return float(text) if text not in (None, "") else None


def is_paper_dir(path: Path) -> bool:
    return (path / TABLE_FILE).is_file() and not (path / "scores.json").is_file()


def load_paper(folder: str | Path | None = None) -> PaperTable:
    """Read the paper's table from ``folder`` (default: the package's copy)."""
    if folder is None:
        from importlib.resources import files

        root = files("harness") / "paper"
        where = "harness/paper"
        table_text = root.joinpath(TABLE_FILE).read_text(encoding="utf-8")
        mme_path = root.joinpath(MME_FILE)
        mme_text = mme_path.read_text(encoding="utf-8") if mme_path.is_file() else None
    else:
        folder = Path(folder)
        where = str(folder)
        if not (folder / TABLE_FILE).is_file():
            raise HarnessError(f"paper table not found: {folder / TABLE_FILE}")
        table_text = (folder / TABLE_FILE).read_text(encoding="utf-8")
        mme_text = (
            (folder / MME_FILE).read_text(encoding="utf-8")
            if (folder / MME_FILE).is_file()
            else None
        )
    cells = _parse(table_text, f"{where}/{TABLE_FILE}", PAPER_TASKS)
    mme = (
        _parse(mme_text, f"{where}/{MME_FILE}", ("mme_perception", "mme_cognition"))
        if mme_text
        else {}
    )
    mme = {fam: {k.removeprefix("mme_"): v for k, v in row.items()} for fam, row in mme.items()}
    return PaperTable(cells=cells, mme=mme, where=where)


def _parse(text: str, where: str, columns: Sequence[str]) -> dict[str, dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or "encoder" not in rows[0]:
        raise HarnessError(f"{where}: expected a CSV with an 'encoder' column")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise HarnessError(f"{where}: missing column(s) {', '.join(missing)}")
    return {r["encoder"]: {c: r[c].strip() for c in columns} for r in rows}
