"""Pixels as each format's reference computes them, bit for bit, on odd-sized images.

- LLaVA code-base checkpoints: LLaVA's own evaluation (``llava/mm_utils.py`` ``process_images``:
  PIL ``expand2square`` in the mean colour, or AnyRes slicing, then the CLIP/SigLIP image
  processor of transformers 4.x, whose PIL steps transformers 5 keeps as ``*ImageProcessorPil``).
- HF Llava/LlavaNext folders: the installed transformers' ``AutoProcessor`` (in transformers 5 a
  torchvision backend), which the PIL steps miss by an 8-bit level here and there.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from PIL import Image

from harness.models.imageproc import ImagePipeline, ImageProcessing

CLIP_336 = {
    "size": {"shortest_edge": 336},
    "crop_size": {"height": 336, "width": 336},
    "do_center_crop": True,
    "resample": 3,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}
SIGLIP_384 = {
    "size": {"height": 384, "width": 384},
    "resample": 3,
    "image_mean": [0.5] * 3,
    "image_std": [0.5] * 3,
}
# LLaVA-NeXT's grid, (width, height)
PINS_WH = [(336, 672), (672, 336), (672, 672), (1008, 336), (336, 1008)]
SIZES = {"docvqa_page": (1700, 2200), "wide": (1000, 200), "tall": (200, 1000), "tiny": (7, 5)}


@functools.cache
def photo(w: int, h: int, seed: int = 0) -> Image.Image:
    """Smooth structure plus noise: resizing it exercises every rounding path."""
    rng = np.random.default_rng(seed)
    x, y = np.linspace(0, 1, w, dtype=np.float32), np.linspace(0, 1, h, dtype=np.float32)
    phase = np.arange(3, dtype=np.float32)
    base = np.sin(23 * x[None, :, None] + 11 * y[:, None, None] + phase) * 110 + 128
    noise = rng.integers(-40, 41, (h, w, 3), dtype=np.int16)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))


# ---- LLaVA's process_images, written from its documented steps (the reference) ---------------
def _llava_expand2square(img: Image.Image, fill: tuple[int, ...]) -> Image.Image:
    w, h = img.size
    if w == h:
        return img
    out = Image.new(img.mode, (max(w, h),) * 2, fill)
    out.paste(img, (0, (w - h) // 2) if w > h else ((h - w) // 2, 0))
    return out


def _llava_anyres(img: Image.Image, proc, pins: list[tuple[int, int]]) -> np.ndarray:
    w, h = img.size
    best, key = None, None
    for cw, ch in pins:  # most image pixels kept, then least waste
        s = min(cw / w, ch / h)
        eff = min(int(w * s) * int(h * s), w * h)
        if key is None or (eff, -(cw * ch - eff)) > key:
            best, key = (cw, ch), (eff, -(cw * ch - eff))
    tw, th = best
    if tw / w < th / h:
        nw, nh = tw, min(math.ceil(h * tw / w), th)
    else:
        nw, nh = min(math.ceil(w * th / h), tw), th
    canvas = Image.new("RGB", (tw, th), (0, 0, 0))
    canvas.paste(img.resize((nw, nh)), ((tw - nw) // 2, (th - nh) // 2))  # PIL's default filter
    tile = proc.crop_size["height"] if proc.crop_size else proc.size["height"]
    patches = [
        canvas.crop((x, y, x + tile, y + tile))
        for y in range(0, th, tile)
        for x in range(0, tw, tile)
    ]
    side = proc.size.get("shortest_edge") or proc.size["height"]
    crops = [img.resize((side, side))] + patches
    return np.stack([proc(images=c, return_tensors="np")["pixel_values"][0] for c in crops])


def llava_process(img: Image.Image, proc, aspect: str, pins=()) -> np.ndarray:
    if aspect == "pad":
        square = _llava_expand2square(img, tuple(int(x * 255) for x in proc.image_mean))
        return proc(images=square, return_tensors="np")["pixel_values"]
    if aspect == "anyres":
        return _llava_anyres(img, proc, list(pins))
    return proc(images=img, return_tensors="np")["pixel_values"]


def _pil_processor(cfg: dict):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    return (SiglipImageProcessorPil if "height" in cfg["size"] else CLIPImageProcessorPil)(**cfg)


@pytest.mark.parametrize(
    "cfg,aspect",
    [(CLIP_336, "pad"), (CLIP_336, "crop"), (CLIP_336, "anyres"), (SIGLIP_384, "pad")],
    ids=["clip-pad", "clip-crop", "clip-anyres", "siglip-pad"],
)
def test_llava_codebase_pixels_equal_llava_process_images(cfg, aspect):
    pins = tuple(PINS_WH) if aspect == "anyres" else ()
    ours = ImagePipeline(ImageProcessing.from_dict(cfg), aspect, pins)
    ref = _pil_processor(cfg)
    for i, (w, h) in enumerate(SIZES.values()):
        img = photo(w, h, i)
        theirs, mine = llava_process(img, ref, aspect, PINS_WH), ours(img)
        assert mine.dtype == np.float32 and mine.shape == theirs.shape, (w, h)
        assert np.array_equal(mine, theirs), (aspect, (w, h), int((mine != theirs).sum()))


def test_llava_codebase_checkpoint_pixels_through_the_loader(llava_pieces, cpu, cache_dir):
    """A LLaVA code-base folder (``image_aspect_ratio: pad``) loaded by load_mllm: its requests'
    pixels are LLaVA's, with the tower's processor config."""
    import json

    from harness.models.mllm import load_mllm
    from harness.types import ImageRef, Request

    enc = {"name": "clip_l", "arch": "clip", "select_layer": -2, "select_feature": "patch"}
    mllm = load_mllm({"checkpoint": str(llava_pieces["full"])}, enc, cpu)
    assert mllm.parts.processing.backend == "pil" and mllm.parts.aspect == "pad"
    cfg = json.loads((llava_pieces["tower"] / "preprocessor_config.json").read_text())
    ref = _pil_processor({k: v for k, v in cfg.items() if k != "image_processor_type"})
    for i, (w, h) in enumerate(SIZES.values()):
        img = photo(w, h, i)
        prep = mllm.preprocessor(Request(id=str(i), prompt="What?", images=[ImageRef(image=img)]))
        assert np.array_equal(prep.pixel_values[0].numpy(), llava_process(img, ref, "pad"))
