"""Reading JSON-lines files (predictions, POPE's release files) with errors that name the line."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError


def json_lines(path: str | Path) -> Iterator[tuple[int, object]]:
    """``(line number, parsed value)`` for every non-blank line; a line that is not JSON is a
    HarnessError naming ``path:line``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(p, "w").write('{"id": 1}\\n\\n[2]\\n')
    >>> list(json_lines(p))
    [(1, {'id': 1}), (3, [2])]
    """
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield lineno, json.loads(line)
            except json.JSONDecodeError as exc:
                raise HarnessError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
