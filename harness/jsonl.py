"""Reading line-based files (predictions, replay files, POPE's release files): the one JSONL
reader, with errors that name ``path:line``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def text_lines(path: str | Path, what: str = "file") -> list[tuple[int, str]]:
    """``(line number, text)`` of every non-blank line; a line that is not UTF-8 is a
    HarnessError naming ``path:line`` and the byte, an unreadable file one naming ``what``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> _ = open(p, "wb").write(b"a\\n\\nb\\xe9\\n")
    >>> text_lines(p)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    harness.errors.HarnessError: ...x.txt:3: not UTF-8 text (byte 0xe9 at column 2); save...
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"cannot read {what} {path}: {exc.strerror}") from None
    out: list[tuple[int, str]] = []
    for lineno, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise HarnessError(
                f"{path}:{lineno}: not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1}); save the file as UTF-8"
            ) from None
        if line.strip():
            out.append((lineno, line))
    return out


def json_lines(path: str | Path, what: str = "file") -> list[tuple[int, Any]]:
    """``(line number, parsed value)`` for every non-blank line; a line that is not JSON is a
    HarnessError naming ``path:line``.

    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.jsonl")
    >>> _ = open(p, "w").write('{"id": 1}\\n\\n[2]\\n')
    >>> json_lines(p)
    [(1, {'id': 1}), (3, [2])]
    """
    out: list[tuple[int, Any]] = []
    for lineno, line in text_lines(path, what):
        try:
            out.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    return out
