"""Image preprocessing that travels with the checkpoint, computed as its format's reference does.

Two backends, chosen by the checkpoint format:

- ``pil`` (LLaVA code-base checkpoints, composed models): the steps and their order of the
  CLIPImageProcessor / SiglipImageProcessor that LLaVA's own evaluation ran (transformers 4.x,
  PIL): convert to RGB, resize (shortest edge, or height x width) with the configured resample
  filter, centre crop, rescale (float64, then float32), normalise, channels first. Bit-equal to
  transformers' PIL processors (tested).
- ``transformers`` (HF Llava/LlavaNext folders): the folder's own image processor, as the
  installed transformers' ``AutoImageProcessor`` builds it (in transformers 5 a torchvision
  backend, which differs from PIL by up to a few 8-bit levels after resizing), called on each
  image in the data-loader worker.

The config is ``preprocessor_config.json``, or (folders written by transformers 5) the
``image_processor`` entry of ``processor_config.json``. The LLaVA aspect modes run before:
``pad`` (to a square in the mean colour), ``resize`` (squash to the square input size), ``crop``
(the processor as is) and ``anyres`` (tiles from a pin-point grid plus a downscaled overview).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from harness.errors import HarnessError
from harness.models import anyres

log = logging.getLogger(__name__)

ASPECT_MODES = ("pad", "resize", "crop", "anyres")
BACKENDS = ("pil", "transformers")
CONFIG_FILES = ("preprocessor_config.json", "processor_config.json")


def read_processor_config(folder: Path) -> tuple[dict[str, Any], Path]:
    """The image processor's settings of a checkpoint folder and the file they came from.

    ``preprocessor_config.json`` (transformers 4.x, encoder folders), else the ``image_processor``
    entry of ``processor_config.json`` (what transformers 5's ``save_pretrained`` writes).
    """
    folder = Path(folder)
    for name in CONFIG_FILES:
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise HarnessError(f"{path}: invalid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise HarnessError(f"{path}: expected a JSON object, found {type(data).__name__}")
        if name == "processor_config.json":
            data = data.get("image_processor")
            if not isinstance(data, dict):
                continue
        return data, path
    raise HarnessError(
        f"{folder}: no image processor config (preprocessor_config.json, or "
        "processor_config.json with an 'image_processor' entry)"
    )


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
    backend: str = "pil"
    # backend "transformers": the folder's own image processor (not compared: the fields say what
    # it does)
    reference: Any = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def from_dict(
        cls, d: dict[str, Any], where: str = "preprocessor_config.json"
    ) -> ImageProcessing:
        kind = (
            d.get("image_processor_type") or d.get("feature_extractor_type") or "CLIPImageProcessor"
        )
        size = d.get("size", 224)
        if isinstance(
            size, int
        ):  # old configs: an int means a square for SigLIP, the shortest edge for CLIP
            size = {"height": size, "width": size} if "Siglip" in kind else {"shortest_edge": size}
        crop = d.get("crop_size") or {}
        if isinstance(crop, int):
            crop = {"height": crop, "width": crop}
        if "shortest_edge" not in size and not ("height" in size and "width" in size):
            raise HarnessError(
                f"{where}: unsupported 'size' {size} (need shortest_edge, or height and width)"
            )
        if {"longest_edge", "max_height", "max_width"} & set(size):
            raise HarnessError(f"{where}: unsupported 'size' {size} (longest_edge/max_* resizing)")
        mean, std = d.get("image_mean", cls.image_mean), d.get("image_std", cls.image_std)
        mean = (mean,) * 3 if isinstance(mean, (int, float)) else tuple(mean)
        std = (std,) * 3 if isinstance(std, (int, float)) else tuple(std)
        return cls(
            processor=kind,
            do_convert_rgb=bool(d.get("do_convert_rgb", True)),
            do_resize=bool(d.get("do_resize", True)),
            size=tuple(sorted((k, int(v)) for k, v in size.items() if v)),
            resample=int(d.get("resample", 3)),
            do_center_crop=bool(d.get("do_center_crop", False)),
            crop_size=tuple(sorted((k, int(v)) for k, v in crop.items())),
            do_rescale=bool(d.get("do_rescale", True)),
            rescale_factor=float(d.get("rescale_factor", 1 / 255)),
            do_normalize=bool(d.get("do_normalize", True)),
            image_mean=mean,
            image_std=std,
        )

    @classmethod
    def from_folder(cls, folder: Path, backend: str = "pil") -> ImageProcessing:
        """The folder's processor settings; ``backend="transformers"`` also loads its processor."""
        data, path = read_processor_config(folder)
        if backend == "pil":
            return cls.from_dict(data, str(path))
        if backend != "transformers":
            raise HarnessError(f"unknown image backend {backend!r}; valid: {', '.join(BACKENDS)}")
        ref = load_reference(folder, path)
        # the settings as the processor holds them (its class defaults filled in)
        settings = {**ref.to_dict(), "image_processor_type": type(ref).__name__}
        return replace(cls.from_dict(settings, str(path)), backend=backend, reference=ref)

    def describe(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.compare}
        d["size"], d["crop_size"] = dict(self.size), dict(self.crop_size)
        if self.backend == "pil":
            del d["backend"]  # as before backends existed (keeps feature-cache namespaces)
        else:
            d["reference"] = type(self.reference).__name__
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
        if self.reference is not None and not slices_grid(self.reference):
            pixels: np.ndarray = reference_pixels(self.reference, image, do_pad=False)[0]
            return pixels
        return self.normalise(self.pixels(image))

    def stack(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Several images -> float32 array (n, 3, H, W): ``np.stack([self(i) for i in images])``,
        each image's values gathered straight into its place when they are 8-bit."""
        if self.reference is not None or not images:
            return np.stack([self(i) for i in images])
        arrays = [self.pixels(i) for i in images]
        shape, lut = arrays[0].shape, None
        if all(a.shape == shape and a.dtype == np.uint8 for a in arrays) and len(shape) == 3:
            lut = self.lookup_table(shape[0])
        if lut is None:
            return np.stack([self.normalise(a) for a in arrays])
        out = np.empty((len(arrays), *shape), dtype=np.float32)
        for a, o in zip(arrays, out):
            _gather(lut, a, o)
        return out

    def pixels(self, image: Image.Image) -> np.ndarray:
        """The steps before the arithmetic: RGB, resize, channels first, centre crop -> (C, H, W)
        in the image's own dtype (uint8 for 8-bit images; may be a view)."""
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
        return arr

    def normalise(self, arr: np.ndarray) -> np.ndarray:
        """(C, H, W) pixels -> contiguous float32: rescale (float64, then float32) and normalise
        (float32), as :meth:`arithmetic`. For 8-bit pixels each value is read from
        :meth:`lookup_table`, which holds :meth:`arithmetic`'s own result for every byte value of
        every channel, so the output is the same, bit for bit."""
        if arr.dtype == np.uint8 and arr.ndim == 3:
            lut = self.lookup_table(arr.shape[0])
            if lut is not None:
                return _gather(lut, arr, np.empty(arr.shape, dtype=np.float32))
        return self.arithmetic(arr)

    def arithmetic(self, arr: np.ndarray) -> np.ndarray:
        """The reference computation on (C, H, W) pixels -> contiguous float32: ``x * rescale``
        in float64 rounded to float32, then ``(x - mean) / std`` in float32 (mean and std rounded
        to float32), as transformers' PIL processors compute it."""
        if self.do_rescale:
            out = (arr.astype(np.float64) * self.rescale_factor).astype(np.float32)
        else:
            out = arr.astype(np.float32)
        if self.do_normalize:
            mean = np.asarray(self.image_mean, dtype=np.float32)[:, None, None]
            std = np.asarray(self.image_std, dtype=np.float32)[:, None, None]
            out = (out - mean) / std
        return np.ascontiguousarray(out, dtype=np.float32)

    def lookup_table(self, channels: int) -> np.ndarray | None:
        """(channels, 256) float32: :meth:`arithmetic` of every byte value in every channel
        (computed once per processor and channel count); None when that arithmetic does not map
        a (channels, H, W) array to one of the same shape (it would broadcast, or fail: the
        arithmetic itself then runs, and fails as it always did).

        Each output value of the arithmetic depends only on its channel and its input value
        (elementwise IEEE operations on per-channel constants), so a table of its outputs for
        every byte value holds every value it can produce:

        >>> p = ImageProcessing()
        >>> px = np.array([[[0, 1, 128, 254, 255]]] * 3, dtype=np.uint8)
        >>> p.lookup_table(3).shape, bool((p.normalise(px) == p.arithmetic(px)).all())
        ((3, 256), True)
        """
        cache: dict[int, np.ndarray | None] | None = self.__dict__.get("_luts")
        if cache is None:
            cache = {}
            object.__setattr__(self, "_luts", cache)  # frozen: a derived cache, not a field
        if channels not in cache:
            probe = np.broadcast_to(np.arange(256, dtype=np.uint8), (channels, 1, 256))
            table = None
            try:
                values = self.arithmetic(probe)
            except (ValueError, TypeError):
                values = None
            if values is not None and values.shape == probe.shape and values.dtype == np.float32:
                table = np.ascontiguousarray(values[:, 0, :])
            cache[channels] = table
        return cache[channels]


def load_reference(folder: Path, where: Path) -> Any:
    """The folder's own image processor, as the installed transformers' AutoImageProcessor
    builds it."""
    from transformers import AutoImageProcessor

    from harness.models.checkpoints import quiet_transformers

    try:
        with quiet_transformers():
            return AutoImageProcessor.from_pretrained(str(folder))  # type: ignore[no-untyped-call]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HarnessError(
            f"{where}: transformers cannot build this image processor ({first})"
        ) from None


def slices_grid(ref: Any) -> bool:
    """Whether a transformers processor does AnyRes slicing itself (LlavaNext). Such a processor
    computes ``anyres`` only; another aspect mode forced on its checkpoint uses the PIL steps."""
    return hasattr(ref, "image_grid_pinpoints")


def reference_pixels(ref: Any, image: Image.Image, **kwargs: Any) -> np.ndarray:
    """One image through a transformers image processor -> float32 (crops, 3, H, W).

    ``do_pad=False`` is passed only to processors that pad (LLaVA's pad-to-square; the pipeline
    pads itself, in the same way, when its aspect mode says so).
    """
    if "do_pad" in kwargs and not getattr(ref, "do_pad", False):
        del kwargs["do_pad"]
    pixels = ref(images=image, return_tensors="pt", **kwargs)["pixel_values"]
    pixels = pixels[0] if pixels.ndim == 5 else pixels  # LlavaNext: (images, crops, 3, H, W)
    return np.ascontiguousarray(pixels.numpy(), dtype=np.float32)


def _gather(lut: np.ndarray, arr: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[c] = lut[c][arr[c]]`` for uint8 (C, H, W) ``arr`` into float32 ``out``."""
    for c in range(arr.shape[0]):
        lut[c].take(arr[c], out=out[c], mode="clip")  # uint8 indices: never clipped
    return out


def _center_crop(arr: np.ndarray, ch: int, cw: int) -> np.ndarray:
    _, h, w = arr.shape
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0:
        return arr[:, top : top + ch, left : left + cw]
    canvas = np.zeros(
        (arr.shape[0], max(h, ch), max(w, cw)), dtype=arr.dtype
    )  # pad, then crop (as transformers)
    oy, ox = (canvas.shape[1] - h) // 2, (canvas.shape[2] - w) // 2
    canvas[:, oy : oy + h, ox : ox + w] = arr
    top, left = (canvas.shape[1] - ch) // 2, (canvas.shape[2] - cw) // 2
    return canvas[:, top : top + ch, left : left + cw]


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
    """Aspect handling + the checkpoint's processor: PIL image -> (crops, 3, H, W) float32.

    ``pad`` is LLaVA's ``expand2square`` (fill ``int(mean * 255)``, the image centred), the same
    padding transformers' LlavaImageProcessor applies with ``do_pad``; with a transformers
    backend, ``anyres`` is the LlavaNext processor's own slicing when the processor has one.
    """

    processing: ImageProcessing
    aspect: str = "pad"
    pinpoints: tuple[tuple[int, int], ...] = ()  # (width, height), for anyres

    def __call__(self, image: Image.Image) -> np.ndarray:
        image = image.convert("RGB") if image.mode != "RGB" else image
        side = self.processing.square_side()
        if self.aspect == "pad":
            r, g, b = (int(x * 255) for x in self.processing.image_mean)
            fill = (r, g, b)
            return self.processing(expand_to_square(image, fill))[None]
        if self.aspect == "resize":
            resample = Image.Resampling(self.processing.resample)
            return self.processing(image.resize((side, side), resample=resample))[None]
        if self.aspect == "crop":
            return self.processing(image)[None]
        ref = self.processing.reference
        if ref is not None and slices_grid(ref):  # LlavaNext: its own grid slicing
            if not self.pinpoints:
                raise HarnessError(
                    "image_aspect_ratio=anyres needs image_grid_pinpoints "
                    "(model.image_grid_pinpoints)"
                )
            pins_hw = [[h, w] for w, h in self.pinpoints]
            return reference_pixels(ref, image, image_grid_pinpoints=pins_hw)
        return self.processing.stack(self.anyres_crops(image, side))

    def anyres_crops(self, image: Image.Image, tile: int) -> list[Image.Image]:
        """The overview (squashed to tile x tile) followed by the tiles, row by row.

        As LLaVA's ``process_anyres_image``: both resizes use PIL's default filter for RGB images
        (bicubic), whatever the processor's ``resample``; each crop then goes through the processor.
        """
        if not self.pinpoints:
            raise HarnessError(
                "image_aspect_ratio=anyres needs image_grid_pinpoints (model.image_grid_pinpoints)"
            )
        resample = Image.Resampling.BICUBIC
        best = anyres.select_best_resolution(image.size, self.pinpoints)
        fitted = image.resize(anyres.fit_size(image.size, best), resample=resample)
        canvas = Image.new("RGB", best, (0, 0, 0))
        canvas.paste(fitted, ((best[0] - fitted.size[0]) // 2, (best[1] - fitted.size[1]) // 2))
        tiles = [
            canvas.crop((x, y, x + tile, y + tile))
            for y in range(0, best[1], tile)
            for x in range(0, best[0], tile)
        ]
        return [image.resize((tile, tile), resample=resample)] + tiles
