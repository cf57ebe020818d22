"""The plan's rows kept packed: each pending row's document and request as one small blob.

The planner reads every row once and keeps what the loader and the scorer need of it (see
:class:`harness.engine.plan.Sample`). As Python objects that is about 2.2 KiB a row (a dict, its
strings, lists, the request). Packed, a row is pickled (about 0.7 KiB) and deflated with the
first row's pickle as the preset dictionary (rows of one task share their keys, classes and
template text, so what remains is what differs: about 0.1 KiB on a DocVQA-layout set), so a
16,000-row task holds a few MiB instead of ~35 MiB until its rows are scored. Packing costs
about 40 µs a row, unpacking about 15 µs (the loader unpacks a row once, the scorer once).

What is copied and what is shared: plain data (str, bytes, numbers, lists, tuples, dicts, sets),
:class:`ImageRef`, :class:`Request` and per-row image handles (:class:`ImageSource`, e.g. a
dataset cell's row and column) are packed by value. Every other object (a dataset the handles
point into, the task's shared :class:`GenerationSettings`, anything a task adapter put in a
document) is kept by reference in the packer's table: never copied, the same object after
unpacking as before. An object that cannot be pickled leaves its row unpacked (kept as is).
"""

from __future__ import annotations

import io
import pickle
import zlib
from typing import Any

from harness.types import ImageRef, ImageSource, Request

_VALUE_TYPES = frozenset(
    {str, bytes, int, float, bool, type(None), list, tuple, dict, set, frozenset, ImageRef, Request}
)


class _Pickler(pickle.Pickler):
    def __init__(self, buf: io.BytesIO, packer: Packer) -> None:
        super().__init__(buf, protocol=pickle.HIGHEST_PROTOCOL)
        self.packer = packer

    def persistent_id(self, obj: Any) -> int | None:  # pickle's hook
        kind = type(obj)
        if kind in _VALUE_TYPES:
            return None
        by_value = self.packer.kinds.get(kind)
        if by_value is None:  # per-row image handles travel by value, what they point into not
            by_value = self.packer.kinds[kind] = isinstance(obj, ImageSource)
        return None if by_value else self.packer.ref(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, table: list[Any]) -> None:
        super().__init__(io.BytesIO(data))
        self.table = table

    def persistent_load(self, pid: Any) -> Any:  # pickle's hook
        return self.table[pid]


_WBITS = -11  # raw deflate, 2 KiB window: a row's pickle and the preset dictionary fit in it
_ZDICT_BYTES = 1 << 11


class Packer:
    """Packs objects into bytes and back; objects kept by reference live in its table.

    >>> from harness.types import GenerationSettings
    >>> p, gen = Packer(), GenerationSettings(max_new_tokens=3)
    >>> doc = {"q": "why?", "answers": ["a", "b"], "n": 3, "gen": gen}
    >>> blob = p.pack(doc)
    >>> back = p.unpack(blob)
    >>> back == doc, back is doc, back["gen"] is gen
    (True, False, True)
    """

    def __init__(self) -> None:
        self.table: list[Any] = []
        self._index: dict[int, int] = {}  # id(obj) -> position in table (objects kept alive)
        self.kinds: dict[type, bool] = {}  # class -> packed by value (else kept by reference)
        self.zdict: bytes | None = None  # the first row's pickle: the deflate dictionary
        self._buf = io.BytesIO()
        self._pickler = _Pickler(self._buf, self)

    def __getstate__(self) -> dict[str, Any]:  # a spawned worker unpacks, it never packs
        return {"table": self.table, "zdict": self.zdict}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]
        self.table, self.zdict = state["table"], state["zdict"]

    def ref(self, obj: Any) -> int:
        k = self._index.get(id(obj))
        if k is None:
            k = self._index[id(obj)] = len(self.table)
            self.table.append(obj)
        return k

    def pack(self, obj: Any) -> bytes | None:
        """``obj`` as bytes; None when it cannot be pickled (keep it as it is)."""
        buf, pickler = self._buf, self._pickler
        buf.seek(0)
        buf.truncate()
        pickler.clear_memo()
        try:
            pickler.dump(obj)
        except (pickle.PicklingError, TypeError, AttributeError, ValueError, RecursionError):
            self._pickler = _Pickler(self._buf, self)  # a failed dump leaves it mid-frame
            return None
        raw = buf.getvalue()
        if self.zdict is None:
            self.zdict = raw[:_ZDICT_BYTES]
        z = zlib.compressobj(1, zlib.DEFLATED, _WBITS, 3, zdict=self.zdict)
        return z.compress(raw) + z.flush()

    def unpack(self, data: bytes) -> Any:
        assert self.zdict is not None  # set by the first pack
        z = zlib.decompressobj(_WBITS, zdict=self.zdict)
        return _Unpickler(z.decompress(data) + z.flush(), self.table).load()
