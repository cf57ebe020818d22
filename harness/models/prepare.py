"""CPU-side preparation of a request: decode images, process them, render and tokenise the prompt.

:class:`Preprocessor` is small and picklable (a tokenizer, a template, an image pipeline), so the
engine can run it in ``torch.utils.data.DataLoader`` workers; it never touches model weights.
The token ids carry :data:`IMAGE_SLOT` where each image's embeddings will be spliced in.
Each image also gets a content hash (``image_hashes``: of its encoded bytes, which decode to
the same pixels wherever they appear, or of the decoded pixels of an in-memory image), the key
of the feature cache and of prefix sharing. With ``memo > 0`` the preprocessor keeps its last few
processed
images (keyed by the encoded bytes), so the questions of one image decode and resize it once
per worker; the memo is never pickled.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from harness.errors import SampleError
from harness.models.imageproc import ImagePipeline
from harness.models.templates import Template, Tokenizer, user_turn
from harness.types import GenerationSettings, ImageRef, Request

Processed = tuple[tuple[int, int], torch.Tensor, str]
"""An image's (width, height), its pixel values and its content hash."""

IMAGE_SLOT = -200  # the LLaVA code base's IMAGE_TOKEN_INDEX
IMAGE_TOKEN = "<image>"


@dataclass
class Prepared:
    """One request, ready for the model: token ids with image slots, pixel values per image."""

    id: str
    input_ids: list[int] = field(default_factory=list)
    pixel_values: list[torch.Tensor] = field(
        default_factory=list
    )  # per image: (crops, 3, H, W) float32
    image_sizes: list[tuple[int, int]] = field(
        default_factory=list
    )  # per image: original (width, height)
    image_keys: list[str | None] = field(default_factory=list)
    image_hashes: list[str] = field(default_factory=list)  # per image: its content hash
    # per image: asked about again by a later request of the run (the engine's plan; None:
    # unknown), see Request.reuse
    image_reuse: tuple[bool, ...] | None = None
    gen: GenerationSettings = field(default_factory=GenerationSettings)
    stop: tuple[str, ...] = ()
    error: SampleError | None = None
    seconds: float = 0.0

    def prefix_length(self) -> int:
        """Number of tokens up to and including the last image slot: the part shared by questions
        about one image."""
        slots = [i for i, t in enumerate(self.input_ids) if t == IMAGE_SLOT]
        return slots[-1] + 1 if slots else 0


def tokenize_chunks(tokenizer: Tokenizer, text: str) -> list[int]:
    """LLaVA code-base tokenisation: split at ``<image>``, tokenise each chunk, join with
    IMAGE_SLOT.

    Each chunk is tokenised on its own (as the code base does); BOS is kept once, at the start.
    """
    bos = tokenizer.bos_token_id
    chunks = [tokenizer(c).input_ids for c in text.split(IMAGE_TOKEN)]
    starts_bos = bos is not None and bool(chunks[0]) and chunks[0][0] == bos
    ids: list[int] = [bos] if starts_bos else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_SLOT)
        ids.extend(chunk[1:] if starts_bos and chunk and chunk[0] == bos else chunk)
    return ids


def tokenize_with_token(tokenizer: Tokenizer, text: str, image_token_id: int) -> list[int]:
    """transformers-Llava tokenisation: ``<image>`` is a token of the vocabulary; it marks the
    slot."""
    return [IMAGE_SLOT if t == image_token_id else t for t in tokenizer(text).input_ids]


@dataclass
class Preprocessor:
    """``__call__(request) -> Prepared``; errors become ``Prepared.error`` (a SampleError)."""

    tokenizer: Any
    template: Template
    images: ImagePipeline
    image_token_id: int | None = None  # None: LLaVA code-base chunk tokenisation
    memo: int = 0  # processed images remembered (by their encoded bytes); 0: none
    _recent: OrderedDict[tuple[ImagePipeline, str | None], Processed] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False
    )

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_recent"] = OrderedDict()  # workers start with an empty memo
        return state

    def __call__(self, request: Request) -> Prepared:
        t0 = time.perf_counter()
        prep = Prepared(
            id=request.id,
            gen=request.gen,
            image_keys=[r.key for r in request.images],
            image_reuse=request.reuse,
            stop=tuple(dict.fromkeys((*self.template.stop, *request.gen.stop))),
        )
        try:
            for ref in request.images:
                size, pixels, digest = self.image(ref)
                prep.image_sizes.append(size)
                prep.pixel_values.append(pixels)
                prep.image_hashes.append(digest)
            text = self.template.render(user_turn(request.prompt, len(request.images), IMAGE_TOKEN))
            prep.input_ids = self.tokenize(text)
            n_slots = prep.input_ids.count(IMAGE_SLOT)
            if n_slots != len(request.images):
                raise SampleError(
                    f"prompt has {n_slots} image tokens for {len(request.images)} images"
                )
        except SampleError as exc:
            prep.error, prep.pixel_values = exc, []
        prep.seconds = time.perf_counter() - t0
        return prep

    def image(self, ref: ImageRef) -> tuple[tuple[int, int], torch.Tensor, str]:
        """(size, pixel values, content hash) of one image; from the memo when it was just
        processed."""
        try:
            digest: str | None = ref.content_hash()
        except (OSError, SampleError):  # an unreadable file or cell: load() reports it
            digest = None
        key = (self.images, digest)
        if self.memo > 0 and digest is not None and key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        img = ref.load()
        out = (
            img.size,
            torch.from_numpy(self.images(img)),
            digest or ImageRef(image=img).content_hash(),
        )
        if self.memo > 0 and digest is not None:
            self._recent[key] = out
            while len(self._recent) > self.memo:
                self._recent.popitem(last=False)
        return out

    def tokenize(self, text: str) -> list[int]:
        if self.image_token_id is None:
            return tokenize_chunks(self.tokenizer, text)
        return tokenize_with_token(self.tokenizer, text, self.image_token_id)

    def describe(self) -> dict[str, Any]:
        return {
            "template": self.template.name,
            "image_aspect_ratio": self.images.aspect,
            "image_grid_pinpoints": [list(p) for p in self.images.pinpoints] or None,
            "image_tokenisation": "chunks" if self.image_token_id is None else "token",
            "processing": self.images.processing.describe(),
        }
