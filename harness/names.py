"""Shared names: the paper's benchmark list, where the built-in configs live, the did-you-mean.

A leaf module (standard library only) that both ``tasks/`` and ``harness`` read, so each of
these facts has one home.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

PAPER_TASKS = (
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
)
"""The ten benchmarks in the order of the paper's table (``task=all`` runs these)."""


def builtin_conf_dir() -> Path:
    """The built-in config folder: ``conf/`` at the top of a checkout (also what an editable
    install points at), else the copy a wheel installs as ``harness/conf``."""
    checkout = Path(__file__).resolve().parent.parent / "conf"
    if (checkout / "config.yaml").is_file():
        return checkout
    return Path(str(resources.files("harness") / "conf"))


def did_you_mean(name: str, options: Iterable[str], prefix: str = "") -> str:
    """A " (did you mean 'x'?)" hint naming the closest option (after ``prefix``), or "".

    >>> did_you_mean("spilt", ["split", "path"]), did_you_mean("zzz", ["split"])
    (" (did you mean 'split'?)", '')
    >>> did_you_mean("pth", ["path"], prefix="task.dataset.")
    " (did you mean 'task.dataset.path'?)"
    """
    close = difflib.get_close_matches(str(name), list(options), n=1, cutoff=0.6)
    return f" (did you mean {prefix + close[0]!r}?)" if close else ""
