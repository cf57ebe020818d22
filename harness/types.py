"""Typed requests exchanged between tasks, the engine and models.

A task turns a dataset record into a :class:`Request`; a model turns a list of requests into
texts. Models never see datasets; tasks never see models.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from PIL import Image

from harness.errors import SampleError


@dataclass(frozen=True)
class GenerationSettings:
    """Greedy decoding settings of one request.

    ``stop``: generation ends for a sequence as soon as its text contains one of these
    strings; the returned text is cut before it. EOS always stops.
    """

    max_new_tokens: int = 16
    stop: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "stop": list(self.stop), "greedy": True}


@runtime_checkable
class ImageSource(Protocol):
    """Where an image's encoded bytes are fetched from when they are needed (a dataset cell read
    by row and column: :class:`harness.tasks.loading.LazyCell`), so a document can be kept
    without its image. ``read()`` returns the bytes, or raises SampleError."""

    def read(self) -> bytes: ...


class _EncodedBytes:
    """The ``data`` field of :class:`ImageRef`: the bytes given, else (with a ``source``) the
    bytes read from the source on each access, never kept in the object."""

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return None  # the field's default
        value = obj.__dict__.get("_data")
        if value is None and obj.__dict__.get("source") is not None:
            return obj.source.read()
        return value

    def __set__(self, obj: Any, value: bytes | None) -> None:
        obj.__dict__["_data"] = value


@dataclass
class ImageRef:
    """An image that is decoded lazily (in a data-loader worker), from bytes, a path, a PIL image
    or a ``source`` whose bytes are fetched on use (and not kept).

    ``key`` is the dataset's own image id where one exists (GQA ``imageId``, MME image path);
    it lets the engine group questions that share an image.
    """

    data: bytes | None = _EncodedBytes()  # type: ignore[assignment]  # a descriptor field
    path: str | None = None
    image: Image.Image | None = None
    key: str | None = None
    source: ImageSource | None = None

    @property
    def holds_payload(self) -> bool:
        """True when the image itself (bytes or pixels) lives in this object.

        >>> class Cell:
        ...     def read(self): return b"png"
        >>> r = ImageRef(source=Cell())
        >>> r.data, r.holds_payload, ImageRef(data=b"x").holds_payload
        (b'png', False, True)
        """
        return self.__dict__.get("_data") is not None or self.image is not None

    def load(self) -> Image.Image:
        """Decode to an RGB PIL image; a failure raises :class:`SampleError` with the reason."""
        try:
            data = None if self.image is not None else self.data  # a source is read once here
            if self.image is not None:
                img = self.image
            elif data is not None:
                img = Image.open(io.BytesIO(data))
            elif self.path is not None:
                img = Image.open(self.path)
            else:
                raise SampleError("image missing: record has no image bytes or path")
            img.load()
            return img if img.mode == "RGB" else img.convert("RGB")  # (converting copies)
        except SampleError:
            raise
        except Exception as exc:  # PIL raises many types for corrupt files
            where = f" ({self.path})" if self.path else ""
            raise SampleError(
                f"image failed to decode{where}: {type(exc).__name__}: {exc}"
            ) from None

    def content_hash(self) -> str:
        """A hash of the encoded image (bytes or file); cheap and stable across runs. OSError for
        an unreadable file, SampleError for a source that cannot be read."""
        h = hashlib.sha1()
        data = self.data  # read once (a source is read on each access)
        if data is not None:
            h.update(data)
        elif self.path is not None:
            with open(self.path, "rb") as f:
                h.update(f.read())
        elif self.image is not None:
            h.update(self.image.tobytes())
            h.update(repr((self.image.size, self.image.mode)).encode())
        return h.hexdigest()


@dataclass
class Request:
    """What a model is asked: one user turn with images placed before the text (LLaVA style).

    No answer travels in a request: the oracle reads ``task.reference(doc)`` through its
    ``bind_task``. ``aliases`` are other keys a saved prediction may be filed under (the row
    index in the dataset), used by ``model=replay``.
    """

    id: str
    prompt: str
    images: list[ImageRef] = field(default_factory=list)
    gen: GenerationSettings = field(default_factory=GenerationSettings)
    aliases: tuple[str, ...] = ()
    reuse: tuple[bool, ...] | None = None
    """Per image: whether a later request of this run asks about it again (set by the engine
    from its plan, so a model keeps an image's features exactly as long as they will be used);
    None: unknown (a direct ``generate`` call), the model's own cache policy applies."""
