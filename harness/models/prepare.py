"""CPU-side preparation of a request: decode images, process them, render and tokenise the prompt.

:class:`Preprocessor` is small and picklable (a tokenizer, a template, an image pipeline), so the
engine can run it in ``torch.utils.data.DataLoader`` workers; it never touches model weights.
The token ids carry :data:`IMAGE_SLOT` where each image's embeddings will be spliced in.
Each image also gets a content hash (``image_hashes``: of its encoded bytes, which decode to
the same pixels wherever they appear, or of the decoded pixels of an in-memory image), the key
of the feature cache and of prefix sharing. With ``memo > 0`` the preprocessor keeps its last few
processed
images (keyed by the encoded bytes), so the questions of one image decode and resize it once
per worker; the memo is never pickled. Token ids come from :class:`ChunkIds`: the ids of
``tokenizer(text).input_ids``, memoised per text (the template's fixed chunks recur in every
prompt) and, for a fast tokenizer whose call is verified, computed by the backend call that the
plain call makes (the same ids, without the call's Python overhead).
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
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


def tokenize_chunks(
    tokenizer: Tokenizer, text: str, encode: Callable[[str], Sequence[int]] | None = None
) -> list[int]:
    """LLaVA code-base tokenisation: split at ``<image>``, tokenise each chunk, join with
    IMAGE_SLOT.

    Each chunk is tokenised on its own (as the code base does); BOS is kept once, at the start.
    ``encode``: a chunk's ``tokenizer(chunk).input_ids`` (the same ids by another route, e.g.
    :class:`ChunkIds`); by default that call itself.
    """
    bos = tokenizer.bos_token_id
    if encode is None:
        chunks = [tokenizer(c).input_ids for c in text.split(IMAGE_TOKEN)]
    else:
        chunks = [encode(c) for c in text.split(IMAGE_TOKEN)]
    starts_bos = bos is not None and bool(chunks[0]) and chunks[0][0] == bos
    ids: list[int] = [bos] if starts_bos else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_SLOT)
        ids.extend(chunk[1:] if starts_bos and chunk and chunk[0] == bos else chunk)
    return ids


def tokenize_with_token(
    tokenizer: Tokenizer,
    text: str,
    image_token_id: int,
    encode: Callable[[str], Sequence[int]] | None = None,
) -> list[int]:
    """transformers-Llava tokenisation: ``<image>`` is a token of the vocabulary; it marks the
    slot. ``encode``: as in :func:`tokenize_chunks`."""
    ids = tokenizer(text).input_ids if encode is None else encode(text)
    return [IMAGE_SLOT if t == image_token_id else t for t in ids]


# What ``tokenizer(text).input_ids`` runs for a fast (``tokenizers``) tokenizer, as read in the
# installed transformers (5.24.0): each method's sha256 (of its source), first 16 hex digits.
# With these exact methods, no keyword arguments, a str, and the backend's truncation and
# padding off and its special-token splitting as the tokenizer's own, the call comes down to
# ``backend.encode_batch([text], add_special_tokens=True, is_pretokenized=False)[0].ids``
# (set_truncation_and_padding changes nothing, _convert_encoding takes ``.ids``, BatchEncoding
# keeps the list), plus a warning when the ids are longer than ``model_max_length``.
# Another transformers (any method changed) or a class overriding any of them: the plain call.
_DIRECT_PATH = {
    "PreTrainedTokenizerBase.__call__": "53dfa27b9cba204a",
    "PreTrainedTokenizerBase._get_padding_truncation_strategies": "17b39f61ffc95726",
    "PreTrainedTokenizerBase._eventual_warn_about_too_long_sequence": "3bca614f18848823",
    "TokenizersBackend._encode_plus": "ba6264ab4212a77d",
    "TokenizersBackend.set_truncation_and_padding": "50347549d3529c88",
    "TokenizersBackend._convert_encoding": "df3df2013df61e2c",
    "BatchEncoding.__init__": "966e800539289d3c",
    "BatchEncoding.__getattr__": "16b0cc79d80b4421",
    "BatchEncoding.convert_to_tensors": "4018851c4d7771b9",
}
_DIRECT_CLASSES: dict[type, bool] = {}


def _source_digest(fn: Any) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]


def direct_path_verified(cls: type) -> bool:
    """Whether ``cls(text).input_ids`` runs exactly the transformers code read for
    :data:`_DIRECT_PATH` (the class inherits each of those methods, unchanged)."""
    if cls not in _DIRECT_CLASSES:
        ok = False
        try:
            if "transformers.tokenization_utils_tokenizers" not in sys.modules:
                raise ImportError("not a transformers tokenizer")  # (nor imports transformers)
            from transformers.tokenization_utils_base import BatchEncoding, PreTrainedTokenizerBase
            from transformers.tokenization_utils_tokenizers import TokenizersBackend

            owners = {
                "PreTrainedTokenizerBase": PreTrainedTokenizerBase,
                "TokenizersBackend": TokenizersBackend,
                "BatchEncoding": BatchEncoding,
            }
            if issubclass(cls, TokenizersBackend) and not hasattr(cls, "_switch_to_input_mode"):
                ok = True
                for name, digest in _DIRECT_PATH.items():
                    owner, method = name.split(".")
                    fn = owners[owner].__dict__[method]
                    inherited = owner == "BatchEncoding" or getattr(cls, method) is fn
                    if not inherited or _source_digest(fn) != digest:
                        ok = False
                        break
        except (ImportError, KeyError, OSError, TypeError):
            ok = False
        _DIRECT_CLASSES[cls] = ok
    return _DIRECT_CLASSES[cls]


class ChunkIds:
    """``tokenizer(text).input_ids``, memoised (the template's fixed chunks recur in every
    prompt), and for a fast tokenizer whose call is verified (:func:`direct_path_verified`)
    computed by the backend call that the plain call makes. Not pickled with its memo."""

    def __init__(self, tokenizer: Any, size: int = 256):
        self.tokenizer, self.size = tokenizer, size
        self.memo: OrderedDict[str, tuple[int, ...]] = OrderedDict()
        self.direct = direct_path_verified(type(tokenizer))

    def __call__(self, text: str) -> tuple[int, ...]:
        ids = self.memo.get(text)
        if ids is not None:
            self.memo.move_to_end(text)
            return ids
        ids = tuple(self.encode(text))
        self.memo[text] = ids
        if len(self.memo) > self.size:
            self.memo.popitem(last=False)
        return ids

    def encode(self, text: str) -> list[int]:
        """The ids of ``tokenizer(text).input_ids`` (not memoised)."""
        tok = self.tokenizer
        if self.direct and type(text) is str:
            backend, state = tok._tokenizer, tok.__dict__
            if (
                backend.truncation is None
                and backend.padding is None
                and backend.encode_special_tokens == state.get("split_special_tokens")
                and state.get("_in_target_context_manager") is False
            ):
                ids: list[int] = backend.encode_batch(
                    [text], add_special_tokens=True, is_pretokenized=False
                )[0].ids
                longest = state.get("model_max_length")
                if isinstance(longest, (int, float)) and (len(ids) <= longest or longest == 0):
                    return ids  # else the plain call, which warns that it is too long
        return list(tok(text).input_ids)


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
    _ids: ChunkIds | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_recent"] = OrderedDict()  # workers start with an empty memo
        state["_ids"] = None  # and build their own token-id memo
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
        """The prompt's token ids with IMAGE_SLOT per image; each text is tokenised by
        :class:`ChunkIds` (the ids of ``tokenizer(text).input_ids``)."""
        ids = self._ids
        if ids is None or ids.tokenizer is not self.tokenizer:
            ids = self._ids = ChunkIds(self.tokenizer)
        if self.image_token_id is None:
            return tokenize_chunks(self.tokenizer, text, ids)
        return tokenize_with_token(self.tokenizer, text, self.image_token_id, ids.encode)

    def describe(self) -> dict[str, Any]:
        return {
            "template": self.template.name,
            "image_aspect_ratio": self.images.aspect,
            "image_grid_pinpoints": [list(p) for p in self.images.pinpoints] or None,
            "image_tokenisation": "chunks" if self.image_token_id is None else "token",
            "processing": self.images.processing.describe(),
        }
