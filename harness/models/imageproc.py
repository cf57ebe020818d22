"""Image preprocessing that travels with the checkpoint: ``preprocessor_config.json``, honoured exactly.

The steps and their order are those of transformers' CLIPImageProcessor / SiglipImageProcessor
(PIL backend): convert to RGB, resize (shortest edge, or height x width) with the configured
resample filter, centre crop, rescale, normalise, channels first. A test checks equality with
transformers' own processors. The LLaVA aspect modes run before: ``pad`` (to a square in the
mean colour), ``resize`` (squash to the square input size), ``crop`` (the processor as is) and
``anyres`` (tiles from a pin-point grid plus a downscaled overview).
"""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.errors import HarnessError
from harness.models import anyres

log = logging.getLogger(__name__)

ASPECT_MODES = ("pad", "resize", "crop", "anyres")
_ASPECT_ALIASES = {"square": "crop", None: "crop", "": "crop"}


@dataclass(frozen=True)
class ImageProcessing:
    processor: str = "CLIPImageProcessor"
    do_convert_rgb: bool = True
    do_resize: bool = True
    size: tuple[tuple[str, int], ...] = (("shortest_edge", 224),)
    resample: int = 3
    do_center_crop: bool = False
    crop_size: tuple[tuple[str, int], ...] = ()
    do_rescale: bool = True
    rescale_factor: float = 1 / 255
    do_normalize: bool = True
    image_mean: tuple[float, ...] = (0.48145466, 0.4578275, 0.40821073)
    image_std: tuple[float, ...] = (0.26862954, 0.26130258, 0.27577711)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "preprocessor_config.json") -> "ImageProcessing":
        kind = d.get("image_processor_type") or d.get("feature_extractor_type") or "CLIPImageProcessor"
        size = d.get("size", 224)
        if isinstance(size, int):  # old configs: an int means a square for SigLIP, the shortest edge for CLIP
            size = {"height": size, "width": size} if "Siglip" in kind else {"shortest_edge": size}
        crop = d.get("crop_size") or {}
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        if "shortest_edge" not in size and not ("height" in size and "width" in size):
            raise HarnessError(f"{where}: unsupported 'size' {size} (need shortest_edge, or height and width)")
        if {"longest_edge", "max_height", "max_width"} & set(size):
            raise HarnessError(f"{where}: unsupported 'size' {size} (longest_edge/max_* resizing)")
        mean, std = d.get("image_mean", cls.image_mean), d.get("image_std", cls.image_std)
        mean = (mean,) * 3 if isinstance(mean, (int, float)) else tuple(mean)
        std = (std,) * 3 if isinstance(std, (int, float)) else tuple(std)
        return cls(processor=kind, do_convert_rgb=bool(d.get("do_convert_rgb", True)),
                   do_resize=bool(d.get("do_resize", True)), size=tuple(sorted((k, int(v)) for k, v in size.items() if v)),
                   resample=int(d.get("resample", 3)), do_center_crop=bool(d.get("do_center_crop", False)),
                   crop_size=tuple(sorted((k, int(v)) for k, v in crop.items())),
                   do_rescale=bool(d.get("do_rescale", True)), rescale_factor=float(d.get("rescale_factor", 1 / 255)),
                   do_normalize=bool(d.get("do_normalize", True)), image_mean=mean, image_std=std)

    @classmethod
    def from_folder(cls, folder: Path) -> "ImageProcessing":
        path = Path(folder) / "preprocessor_config.json"
        if not path.is_file():
            raise HarnessError(f"{folder}: preprocessor_config.json not found (the image preprocessing of this checkpoint)")
        try:
            return cls.from_dict(json.loads(path.read_text()), str(path))
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}: invalid JSON ({exc})") from None

    def describe(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"], d["crop_size"] = dict(self.size), dict(self.crop_size)
        return d

    # ---- geometry -----------------------------------------------------------------------
    def output_size(self) -> tuple[int, int] | None:
        """(height, width) of a processed image when it does not depend on the input."""
        crop, size = dict(self.crop_size), dict(self.size)
        if self.do_center_crop and crop:
            return crop["height"], crop["width"]
        if self.do_resize and "height" in size:
            return size["height"], size["width"]
        return None

    def square_side(self) -> int:
        """Side of the square input (pad/resize target, anyres tile)."""
        out = self.output_size()
        if out is not None:
            return out[0]
        size = dict(self.size)
        return size.get("shortest_edge", size.get("height", 224))

    def _resize_to(self, w: int, h: int) -> tuple[int, int]:
        size = dict(self.size)
        if "shortest_edge" in size:
            s = size["shortest_edge"]
            return (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
        return size["width"], size["height"]

    # ---- the processor ------------------------------------------------------------------
    def __call__(self, image: Image.Image) -> np.ndarray:
        """One image -> float32 array (3, H, W)."""
        if self.do_convert_rgb and image.mode != "RGB":
            image = image.convert("RGB")
        if self.do_resize:
            target = self._resize_to(*image.size)
            if target != image.size:
                image = image.resize(target, resample=Image.Resampling(self.resample))
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = arr[:, :, None].repeat(3, axis=2)
        arr = arr.transpose(2, 0, 1)
        if self.do_center_crop and self.crop_size:
            arr = _center_crop(arr, dict(self.crop_size)["height"], dict(self.crop_size)["width"])
        out = arr.astype(np.float32)
        if self.do_rescale:
            out = (arr.astype(np.float64) * self.rescale_factor).astype(np.float32)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None, None]
            out = (out - mean) / std
        return np.ascontiguousarray(out, dtype=np.float32)


def _center_crop(arr: np.ndarray, ch: int, cw: int) -> np.ndarray:
    _, h, w = arr.shape
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0:
        return arr[:, top:top + ch, left:left + cw]
    canvas = np.zeros((arr.shape[0], max(h, ch), max(w, cw)), dtype=arr.dtype)  # pad, then crop (as transformers)
    oy, ox = (canvas.shape[1] - h) // 2, (canvas.shape[2] - w) // 2
    canvas[:, oy:oy + h, ox:ox + w] = arr
    top, left = (canvas.shape[1] - ch) // 2, (canvas.shape[2] - cw) // 2
    return canvas[:, top:top + ch, left:left + cw]


def expand_to_square(image: Image.Image, fill: tuple[int, int, int]) -> Image.Image:
    """Pad to a square, the image centred on the long side's axis (LLaVA-1.5 ``pad``)."""
    w, h = image.size
    if w == h:
        return image
    side = max(w, h)
    canvas = Image.new(image.mode, (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas


def normalize_aspect(mode: str | None) -> str:
    mode = _ASPECT_ALIASES.get(mode, mode)
    if mode not in ASPECT_MODES:
        raise HarnessError(f"unknown image_aspect_ratio {mode!r}; valid: {', '.join(ASPECT_MODES)}")
    return mode


@dataclass(frozen=True)
class ImagePipeline:
    """Aspect handling + the checkpoint's processor: PIL image -> (crops, 3, H, W) float32."""

    processing: ImageProcessing
    aspect: str = "pad"
    pinpoints: tuple[tuple[int, int], ...] = ()  # (width, height), for anyres

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.convert("RGB") if image.mode != "RGB" else image
        side = self.processing.square_side()
        if self.aspect == "pad":
            fill = tuple(int(x * 255) for x in self.processing.image_mean)
            return self.processing(expand_to_square(image, fill))[None]
        if self.aspect == "resize":
            resample = Image.Resampling(self.processing.resample)
            return self.processing(image.resize((side, side), resample=resample))[None]
        if self.aspect == "crop":
            return self.processing(image)[None]
        return np.stack([self.processing(t) for t in self.anyres_crops(image, side)])

    def anyres_crops(self, image: Image.Image, tile: int) -> list[Image.Image]:
        """The overview (squashed to tile x tile) followed by the tiles, row by row."""
        if not self.pinpoints:
            raise HarnessError("image_aspect_ratio=anyres needs image_grid_pinpoints (model.image_grid_pinpoints)")
        resample = Image.Resampling(self.processing.resample)
        best = anyres.select_best_resolution(image.size, self.pinpoints)
        fitted = image.resize(anyres.fit_size(image.size, best), resample=resample)
        canvas = Image.new("RGB", best, (0, 0, 0))
        canvas.paste(fitted, ((best[0] - fitted.size[0]) // 2, (best[1] - fitted.size[1]) // 2))
        tiles = [canvas.crop((x, y, x + tile, y + tile)) for y in range(0, best[1], tile) for x in range(0, best[0], tile)]
        return [image.resize((tile, tile), resample=resample)] + tiles
