"""Reading line-based files (predictions, replay files, POPE's release files): the one JSONL
reader, with errors that name ``path:line``; :class:`Records`, per-sample records kept as their
JSON lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, overload

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


class Records(Sequence[dict[str, Any]]):
    """Per-sample records, each kept as its JSON line (about a third of a dict's memory) or as
    a dict, decoded on access: what a task's records are between the engine and the scores.

    Reading is exact (a line decodes to what was written) and every access decodes afresh, so
    changing a record read from here changes nothing kept; :meth:`take` selects without
    decoding, :meth:`lines` gives the JSON text to write (a kept line as is).

    >>> recs = Records(['{"id": "a", "score": 1.0}', {"id": "b", "score": 0.0}])
    >>> len(recs), recs[0], recs[-1]["id"], [r["id"] for r in recs.take([1, 0])]
    (2, {'id': 'a', 'score': 1.0}, 'b', ['b', 'a'])
    >>> list(recs.lines())
    ['{"id": "a", "score": 1.0}', '{"id": "b", "score": 0.0}']
    >>> recs == [{"id": "a", "score": 1.0}, {"id": "b", "score": 0.0}], recs[:1] == recs[0:1]
    (True, True)
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[str | dict[str, Any]] = ()) -> None:
        self._items: list[str | dict[str, Any]] = list(items)

    @classmethod
    def of(cls, records: Sequence[dict[str, Any]]) -> Records:
        """``records`` as :class:`Records`: itself when it already is one (nothing copied)."""
        return records if isinstance(records, Records) else cls(records)

    def __len__(self) -> int:
        return len(self._items)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Records: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Records:
        if isinstance(index, slice):
            return Records(self._items[index])
        return _decode(self._items[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(_decode, self._items)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, (str, bytes)):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Records({len(self)} records)"

    def __add__(self, other: Iterable[str | dict[str, Any]]) -> Records:
        more = other._items if isinstance(other, Records) else list(other)
        return Records([*self._items, *more])

    def take(self, indices: Iterable[int]) -> Records:
        """The records at ``indices``, in that order, without decoding them."""
        items = self._items
        return Records([items[i] for i in indices])

    def kept(self, indices: Iterable[int]) -> list[str | dict[str, Any]]:
        """The records at ``indices`` as they are kept (lines or dicts), for a new
        :class:`Records` made of several parts."""
        items = self._items
        return [items[i] for i in indices]

    def lines(self) -> Iterator[str]:
        """Each record's JSON line (without the newline): a kept line as is, a dict encoded as
        the prediction files write it."""
        for item in self._items:
            yield item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)


def _decode(item: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(item, str):
        out: dict[str, Any] = json.loads(item)
        return out
    return item
