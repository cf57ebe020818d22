"""Which samples run, on which rank, in which batches: pure functions over sample indices.

A sample's *size key* estimates its cost (number of images, image-size bucket, prompt length).
Batches hold samples of similar size, heaviest first, so padding is small and an
out-of-memory error shows on the first batch rather than hours in. Outputs are put back in
dataset order by the engine, so the order here never shows in results.

:func:`shard` (which samples a rank runs) and :func:`make_batches` (how a rank groups its
samples) are separate so either can be replaced. With image sharing on, both also take the
samples' *image groups* (:func:`image_group`: the questions about one image): a group goes to
one rank whole, and its samples run in consecutive batches, so each image is encoded (and its
prompt prefix prefilled) once, on one rank.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from harness.engine.packing import Packer
from harness.errors import HarnessError, SampleError
from harness.types import ImageRef, Request

SizeKey = tuple[int, ...]
GroupKey = tuple[str, ...]


_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def header_size(data: bytes) -> tuple[int, int] | None:
    r"""(width, height) read straight from a PNG or JPEG header; None for other formats.

    >>> ihdr = b"\x00\x00\x00\rIHDR"
    >>> header_size(_PNG + ihdr + (640).to_bytes(4, "big") + (480).to_bytes(4, "big"))
    (640, 480)
    """
    if data[:8] == _PNG and data[12:16] == b"IHDR" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return w, h
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in _JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        elif marker == 0x01 or 0xD0 <= marker <= 0xD9:  # markers without a length
            i += 2
        else:
            i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None


def image_pixels(ref: ImageRef) -> int:
    """Width × height from the image header only (no decoding); 0 when unreadable."""
    try:
        if ref.image is not None:
            w, h = ref.image.size
            return int(w) * int(h)
        data = ref.data  # read once (a source is read on each access)
        if data is not None:
            head = data
        elif ref.path is not None:
            with open(ref.path, "rb") as f:
                head = f.read(1 << 16)
        else:
            return 0
        size = header_size(head)
        if size is None:  # other formats, or a JPEG header past the first 64 KiB
            with Image.open(io.BytesIO(data) if data is not None else str(ref.path)) as img:
                size = img.size
    except Exception:  # the worker that decodes it reports the real error
        return 0
    return int(size[0]) * int(size[1])


def size_key(request: Request) -> SizeKey:
    """(images, image-size bucket, prompt length): pixels within a factor of two share a bucket.

    >>> size_key(Request(id="a", prompt="hello"))
    (0, 0, 5)
    """
    pixels = sum(image_pixels(r) for r in request.images)
    bucket = int(math.log2(pixels)) if pixels > 0 else 0
    return (len(request.images), bucket, len(request.prompt))


def heaviest_first(indices: Sequence[int], keys: Mapping[int, SizeKey]) -> list[int]:
    """Indices by descending size key; ties keep dataset order.

    >>> heaviest_first([0, 1, 2, 3], {0: (1, 5), 1: (1, 9), 2: (0, 3), 3: (1, 9)})
    [1, 3, 0, 2]
    """
    return sorted(indices, key=lambda i: (tuple(-k for k in keys[i]), i))


def image_group(request: Request) -> GroupKey | None:
    """Which images a request asks about: each image's dataset id where it has one, else a hash
    of its encoded bytes (undecoded). None for a request without images.

    >>> image_group(Request(id="a", prompt="q", images=[ImageRef(key="n161313")]))
    ('key:n161313',)
    >>> image_group(Request(id="b", prompt="q", images=[ImageRef(data=b"x")]))
    ('sha1:11f6ad8ec52a2984abaafd7c3b516503785c2072',)
    """
    if not request.images:
        return None
    try:
        return tuple(
            f"key:{r.key}" if r.key else f"sha1:{r.content_hash()}" for r in request.images
        )
    except (OSError, SampleError):  # a missing file: the worker that loads it reports the error
        return None


def grouped_order(
    indices: Sequence[int], keys: Mapping[int, SizeKey], groups: Mapping[int, GroupKey | None]
) -> list[list[int]]:
    """Samples by image group (a sample without a group is one alone), each group heaviest
    first, groups in the order of their heaviest sample.

    >>> sizes = {0: (1,), 1: (3,), 2: (2,), 3: (1,), 4: (2,)}
    >>> grouped_order(range(5), sizes, {0: ("a",), 1: ("b",), 3: ("a",), 4: ("b",)})
    [[1, 4], [2], [0, 3]]
    """
    by: dict[tuple[object, ...], list[int]] = {}
    for i in heaviest_first(indices, keys):
        g = groups.get(i)
        by.setdefault((i,) if g is None else ("group", g), []).append(i)
    return list(by.values())


def shard(
    indices: Sequence[int],
    keys: Mapping[int, SizeKey],
    rank: int,
    world: int,
    groups: Mapping[int, GroupKey | None] | None = None,
) -> list[int]:
    """The samples rank ``rank`` of ``world`` runs. Together the shards cover ``indices`` exactly
    once.

    Without ``groups``: dealt round-robin in heaviest-first order, so every rank gets a similar
    load. With ``groups``: whole image groups, largest first, each to the rank with the fewest
    samples so far, so no two ranks ask about the same image.

    >>> keys = {i: (i % 3,) for i in range(7)}
    >>> [shard(range(7), keys, r, 2) for r in range(2)]
    [[2, 1, 0, 6], [5, 4, 3]]
    >>> [shard(range(7), keys, r, 2, {i: (str(i % 2),) for i in range(7)}) for r in range(2)]
    [[2, 4, 0, 6], [5, 1, 3]]
    """
    if not 0 <= rank < world:
        raise HarnessError(f"rank {rank} is outside a world of {world} processes")
    if groups is None:
        return heaviest_first(indices, keys)[rank::world]
    loads, mine = [0] * world, []
    for members in sorted(grouped_order(indices, keys, groups), key=len, reverse=True):
        least = loads.index(min(loads))
        loads[least] += len(members)
        if least == rank:
            mine.extend(members)
    return mine


def make_batches(
    indices: Sequence[int],
    keys: Mapping[int, SizeKey],
    batch_size: int,
    groups: Mapping[int, GroupKey | None] | None = None,
) -> list[list[int]]:
    """Group samples of similar size into batches of at most ``batch_size``, heaviest first;
    with ``groups``, the samples of one image group next to each other (see :func:`grouped_order`).

    >>> make_batches([0, 1, 2, 3, 4], {0: (1,), 1: (3,), 2: (2,), 3: (3,), 4: (1,)}, 2)
    [[1, 3], [2, 0], [4]]
    >>> sizes = {0: (1,), 1: (3,), 2: (2,), 3: (3,), 4: (1,)}
    >>> make_batches([0, 1, 2, 3, 4], sizes, 2, {0: ("x",), 1: ("x",)})
    [[1, 0], [3, 2], [4]]
    """
    if batch_size < 1:
        raise HarnessError(f"batch_size must be at least 1, got {batch_size}")
    if groups is None:
        order = heaviest_first(indices, keys)
    else:
        order = [i for members in grouped_order(indices, keys, groups) for i in members]
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class Sample:
    """What the plan keeps of a pending row, read and built once: the document without its image
    payloads (scoring reads it), the request (None when its images carry their bytes: the loader
    builds it again from the row rather than the plan keeping every image in memory) and the
    sample's digest (see :func:`harness.engine.store.sample_digest`).

    With a ``packer`` the document and the request are kept packed together (a small fraction
    of their memory, see :mod:`harness.engine.packing`); each read of ``doc`` or ``request``
    gives a fresh copy (the loader reads the request once, the scorer the document once).
    Setting ``request`` to None (the loader, once it has used it) drops it.

    >>> from harness.engine.packing import Packer
    >>> s = Sample({"q": "a"}, Request(id="1", prompt="p"), "d1", Packer())
    >>> isinstance(s._packed, bytes), s.doc, s.request.prompt, s.digest
    (True, {'q': 'a'}, 'p', 'd1')
    >>> s.request = None
    >>> s.request is None, s.doc
    (True, {'q': 'a'})
    """

    __slots__ = ("_packed", "_packer", "_taken", "digest")

    def __init__(
        self,
        doc: dict[str, Any],
        request: Request | None,
        digest: str | None = None,
        packer: Packer | None = None,
    ) -> None:
        self._packer = packer
        self._taken = False  # the request was used (and dropped)
        self._packed: Any = self._pack(doc, request)
        self.digest = digest

    def _pack(self, doc: dict[str, Any], request: Request | None) -> Any:
        packed = self._packer.pack((doc, request)) if self._packer is not None else None
        return (doc, request) if packed is None else packed

    def _unpack(self) -> tuple[dict[str, Any], Request | None]:
        value = self._packed
        if type(value) is bytes and self._packer is not None:
            value = self._packer.unpack(value)
        return value  # type: ignore[no-any-return]

    @property
    def doc(self) -> dict[str, Any]:
        return self._unpack()[0]

    @property
    def request(self) -> Request | None:
        return None if self._taken else self._unpack()[1]

    @request.setter
    def request(self, value: Request | None) -> None:
        if value is None:
            self._taken = True
            if type(self._packed) is tuple:  # unpacked: let the request go
                self._packed = (self._packed[0], None)
        else:
            self._taken, self._packed = False, self._pack(self.doc, value)

    def __repr__(self) -> str:
        return f"Sample(doc={self.doc!r}, request={self.request!r}, digest={self.digest!r})"


def slim(value: Any) -> Any:
    """``value`` without image payloads: encoded bytes, hub image cells (``{"bytes": ...}``) and
    ImageRefs holding bytes or pixels become None or payload-free refs (key kept); lazy refs
    (a path, a ``source``) stay.

    >>> doc = slim({"q": "a", "image": {"bytes": b"x", "path": None},
    ...             "images": [ImageRef(data=b"x", key="k")]})
    >>> doc["q"], doc["image"], doc["images"][0].data, doc["images"][0].key
    ('a', None, None, 'k')
    """
    if isinstance(value, (bytes, bytearray, memoryview, Image.Image)):
        return None
    if isinstance(value, ImageRef):
        return ImageRef(key=value.key) if value.holds_payload else value
    if isinstance(value, dict):
        if isinstance(value.get("bytes"), (bytes, bytearray)):
            return None
        return {k: slim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [slim(v) for v in value]
    if isinstance(value, tuple):
        return tuple(slim(v) for v in value)
    return value


def light_request(request: Request) -> Request | None:
    """``request`` when keeping it keeps no image payload in memory, else None."""
    return None if any(r.holds_payload for r in request.images) else request


@dataclass
class Plan:
    """A task's selection: ids in dataset order, what is left to run, and build failures."""

    ids: list[str]
    pending: list[int] = field(default_factory=list)
    keys: dict[int, SizeKey] = field(default_factory=dict)
    failures: dict[int, tuple[str | None, str]] = field(
        default_factory=dict
    )  # index -> (prompt, reason)
    groups: dict[int, GroupKey | None] | None = None  # index -> image group, when sharing images
    # index -> the row as read (pending rows and build failures)
    samples: dict[int, Sample] = field(default_factory=dict)
    resumed: dict[int, str] = field(default_factory=dict)  # index -> digest, finished earlier
    packer: Packer = field(default_factory=Packer, repr=False)  # keeps ``samples`` packed


def reuse_hints(
    order: Sequence[int], groups: Mapping[int, GroupKey | None]
) -> dict[int, tuple[bool, ...]]:
    """Per sample, per image: whether a sample after it in ``order`` (this rank's samples in the
    order it runs them) asks about the same image. A model keeps an image's features while some
    row says yes and frees them after the row that says no.

    >>> reuse_hints([3, 1, 2], {1: ("a", "b"), 2: ("b",), 3: ("a",)})
    {2: (False,), 1: (False, True), 3: (True,)}
    """
    later: set[str] = set()
    hints: dict[int, tuple[bool, ...]] = {}
    for i in reversed(order):
        g = groups.get(i)
        if g is None:
            continue
        hints[i] = tuple(k in later for k in g)
        later.update(g)
    return hints


def plan_task(
    docs: Sequence[dict[str, Any]],
    n: int,
    done: set[str],
    build: Callable[[dict[str, Any]], Request],
    key: Callable[[Request], SizeKey] = size_key,
    group: Callable[[Request], GroupKey | None] | None = None,
    digest: Callable[[dict[str, Any]], str] | None = None,
) -> Plan:
    """Read each row once and build each unfinished request once, to learn its size (and, with
    ``group``, its image group) and keep it (``plan.samples``: the document without image
    payloads, the request, ``digest(doc)``) for the loader and the scorer; images stay undecoded.

    A request that cannot be built (SampleError) is a failure, not a pending sample. Sample ids
    must be unique: predictions, resume and replay are keyed by them.
    """
    plan = Plan(ids=[], groups={} if group is not None else None)
    seen: dict[str, int] = {}
    shared: dict[object, object] = {}  # one object for equal generation settings
    for i in range(n):
        doc = docs[i]
        doc_id = str(doc["id"])
        if doc_id in seen:
            raise HarnessError(
                f"sample id {doc_id!r} occurs twice (rows {seen[doc_id]} and {i}); "
                "ids must be unique"
            )
        seen[doc_id] = i
        plan.ids.append(doc_id)
        if doc_id in done:  # resumed: only its digest, to check the saved record against
            if digest is not None:
                plan.resumed[i] = digest(doc)
            continue
        try:
            request = build(doc)
        except SampleError as exc:
            plan.failures[i] = (None, str(exc))
            plan.samples[i] = Sample(
                slim(doc), None, digest(doc) if digest is not None else None, plan.packer
            )
            continue
        plan.pending.append(i)
        plan.keys[i] = key(request)
        if plan.groups is not None and group is not None:
            plan.groups[i] = group(request)
        kept = light_request(request)
        if kept is not None:
            kept.gen = shared.setdefault(kept.gen, kept.gen)  # type: ignore[assignment]
        plan.samples[i] = Sample(
            slim(doc), kept, digest(doc) if digest is not None else None, plan.packer
        )
    return plan
