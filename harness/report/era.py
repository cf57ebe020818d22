"""Which cells of the ``--paper`` table were scored unlike the paper.

The UNIT table (autumn 2024) was scored with lmms-eval v0.2.x, this project's protocol
``lmms-eval-0.2`` (alias ``paper``). A run cell scored under any other protocol (today's
lmms-eval, LLaVA's, an official script) carries :data:`MARK`, and the table gets one legend
line saying so, since its difference to the paper mixes model and scoring changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

PAPER_PROTOCOL = "lmms-eval-0.2"
MARK = "†"


def off_era(entry: dict[str, Any] | None) -> bool:
    """True when a scores.json entry was not scored under the paper's protocol (an entry
    without a recorded protocol predates protocols: today's lmms-eval).

    >>> off_era({"protocol": "lmms-eval"}), off_era({"protocol": "lmms-eval-0.2"})
    (True, False)
    >>> off_era({"protocol": "paper"}), off_era({}), off_era(None)
    (False, True, False)
    """
    if entry is None:
        return False
    protocol = entry.get("protocol") or "lmms-eval"
    return protocol not in (PAPER_PROTOCOL, "paper")


def legend(protocols: set[str]) -> str:
    """The legend line for the marked cells, naming the protocols they were scored under.

    >>> legend({"lmms-eval"}).split(", not")[0]
    '† Scored under protocol lmms-eval'
    """
    names = ", ".join(sorted(protocols))
    return (
        f"{MARK} Scored under protocol {names}, not the paper's lmms-eval v0.2.x scoring "
        f"(protocol {PAPER_PROTOCOL}): its difference to the paper mixes the model with the "
        "scoring change. Re-score without generating: python -m harness.rescore RUN_DIR "
        "protocol=paper."
    )


def marked_protocols(protocols: Iterable[str]) -> set[str]:
    """The protocols among ``protocols`` (a table's run cells) that carry :data:`MARK`.

    >>> sorted(marked_protocols(["lmms-eval-0.2", "paper", "llava", "lmms-eval", "llava"]))
    ['llava', 'lmms-eval']
    """
    return {str(p) for p in protocols if off_era({"protocol": p})}
