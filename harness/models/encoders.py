"""Vision encoders behind one interface, in a registry keyed by ``arch`` (clip, siglip, unit).

An encoder maps pixel values (B, 3, H, W) to the selected features (B, N, C): the hidden states
of ``select_layer``, with CLIP's CLS token dropped for ``select_feature=patch``. Each encoder
carries the preprocessing of its checkpoint (``preprocessor_config.json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from harness.errors import HarnessError
from harness.models.checkpoints import hf_dtype_kwargs, quiet_transformers
from harness.models.imageproc import ImageProcessing
from harness.models.unit import UNITModel
from harness.names import did_you_mean

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)

SELECT_FEATURES = ("patch", "cls_patch")
_REGISTRY: dict[str, Callable[..., VisionEncoder]] = {}


Builder = TypeVar("Builder", bound=Callable[..., "VisionEncoder"])


def register_encoder(arch: str) -> Callable[[Builder], Builder]:
    def deco(fn: Builder) -> Builder:
        _REGISTRY[arch] = fn
        return fn

    return deco


def encoder_builder(arch: str) -> Callable[..., VisionEncoder]:
    if arch not in _REGISTRY:
        raise HarnessError(
            f"unknown encoder arch {arch!r}{did_you_mean(str(arch), _REGISTRY)}; "
            f"valid: {', '.join(sorted(_REGISTRY))}"
        )
    return _REGISTRY[arch]


def encoder_archs() -> list[str]:
    return sorted(_REGISTRY)


class VisionEncoder(nn.Module):
    """``forward(pixels) -> (B, N, C)`` selected features; ``hidden_size``, ``patch_size`` and the
    processing."""

    arch: str = ""
    model: nn.Module  # the wrapped network (transformers vision model, UNITModel)

    def __init__(self, select_layer: int, select_feature: str, processing: ImageProcessing | None):
        super().__init__()
        if select_feature not in SELECT_FEATURES:
            raise HarnessError(
                f"unknown select_feature {select_feature!r}; valid: {', '.join(SELECT_FEATURES)}"
            )
        self.select_layer, self.select_feature, self.processing = (
            int(select_layer),
            select_feature,
            processing,
        )
        self.hidden_size = 0
        self.patch_size = 14

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def describe(self) -> dict[str, Any]:
        return {
            "arch": self.arch,
            "hidden_size": self.hidden_size,
            "patch_size": self.patch_size,
            "select_layer": self.select_layer,
            "select_feature": self.select_feature,
            "parameters": sum(p.numel() for p in self.parameters()),
        }


class HFVisionEncoder(VisionEncoder):
    """A transformers vision model (CLIPVisionModel, SiglipVisionModel) and its hidden states."""

    model: PreTrainedModel

    def __init__(
        self,
        model: PreTrainedModel,
        arch: str,
        select_layer: int,
        select_feature: str,
        processing: ImageProcessing | None,
        has_cls: bool,
    ) -> None:
        super().__init__(select_layer, select_feature, processing)
        if select_feature == "cls_patch" and not has_cls:
            raise HarnessError(
                f"encoder {arch}: select_feature=cls_patch, but this model has no CLS token"
            )
        self.model, self.arch, self.has_cls = model, arch, has_cls
        self.hidden_size = int(model.config.hidden_size)
        self.patch_size = int(model.config.patch_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        out = self.model(pixel_values=pixels.to(self.dtype), output_hidden_states=True)
        feats: torch.Tensor = out.hidden_states[self.select_layer]
        return feats[:, 1:] if self.has_cls and self.select_feature == "patch" else feats


class UNITEncoder(VisionEncoder):
    """UNIT: ``select_layer=-1`` is its output (after the final norm); other layers are raw block
    outputs."""

    arch = "unit"
    model: UNITModel

    def __init__(
        self,
        model: UNITModel,
        select_layer: int,
        select_feature: str,
        processing: ImageProcessing | None,
    ):
        super().__init__(select_layer, select_feature, processing)
        if not -model.depth - 1 <= self.select_layer <= model.depth:
            raise HarnessError(
                f"UNIT: select_layer {select_layer} out of range for {model.depth} blocks"
            )
        self.model = model
        self.hidden_size, self.patch_size = int(model.width), model.patch_size

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x: torch.Tensor
        if self.select_layer == -1:
            x = self.model.unit_model.model.norm(self.model.forward_tokens(pixels))
        else:
            x = self.model.forward_tokens(pixels, blocks=self.select_layer % (self.model.depth + 1))
        n = self.model.num_prefix_tokens
        if self.select_feature == "cls_patch":
            return torch.cat([x[:, :1], x[:, n:]], dim=1)
        return x[:, n:]


def detect_arch(folder: Path) -> str:
    """clip | siglip | unit from the folder's config.json."""
    path = folder / "config.json"
    if not path.is_file():
        raise HarnessError(f"encoder folder {folder}: config.json not found")
    cfg = json.loads(path.read_text())
    if "args" in cfg and "UNITModel" in (cfg.get("architectures") or ["UNITModel"]):
        return "unit"
    mt = str(cfg.get("model_type", ""))
    for arch in ("siglip", "clip"):
        if mt.startswith(arch):
            return arch
    raise HarnessError(
        f"{path}: cannot tell the encoder type (model_type {mt!r}); expected CLIP, SigLIP or UNIT"
    )


def _load_hf(folder: Path, cls_name: str, dtype: torch.dtype) -> PreTrainedModel:
    import transformers

    cls = getattr(transformers, cls_name)
    try:
        with quiet_transformers():
            model: PreTrainedModel = cls.from_pretrained(str(folder), **hf_dtype_kwargs(dtype))
            nn.Module.eval(model)  # torch's (transformers leaves its eval untyped)
            return model
    except OSError as exc:
        raise HarnessError(
            f"{folder}: cannot load {cls_name} ({str(exc).splitlines()[0]})"
        ) from None


@register_encoder("clip")
def build_clip(
    folder: Path,
    select_layer: int = -2,
    select_feature: str = "patch",
    dtype: torch.dtype = torch.float32,
) -> HFVisionEncoder:
    enc = HFVisionEncoder(
        _load_hf(folder, "CLIPVisionModel", dtype),
        "clip",
        select_layer,
        select_feature,
        ImageProcessing.from_folder(folder),
        has_cls=True,
    )
    return enc


@register_encoder("siglip")
def build_siglip(
    folder: Path,
    select_layer: int = -2,
    select_feature: str = "patch",
    dtype: torch.dtype = torch.float32,
) -> HFVisionEncoder:
    return HFVisionEncoder(
        _load_hf(folder, "SiglipVisionModel", dtype),
        "siglip",
        select_layer,
        select_feature,
        ImageProcessing.from_folder(folder),
        has_cls=False,
    )


@register_encoder("unit")
def build_unit(
    folder: Path,
    select_layer: int = -1,
    select_feature: str = "patch",
    dtype: torch.dtype = torch.float32,
) -> UNITEncoder:
    processing = ImageProcessing.from_folder(folder)
    if processing.do_normalize:
        log.warning(
            "UNIT %s: preprocessor_config.json normalises (mean %s, std %s) and the model "
            "normalises "
            "again with its own input conditioner (it expects pixels in [0, 1]); following the "
            "checkpoint's config as written",
            folder,
            processing.image_mean,
            processing.image_std,
        )
    return UNITEncoder(
        UNITModel.from_pretrained(folder, dtype=dtype), select_layer, select_feature, processing
    )


def load_encoder(
    folder: Path,
    arch: str | None = None,
    select_layer: int | None = None,
    select_feature: str = "patch",
    dtype: torch.dtype = torch.float32,
) -> VisionEncoder:
    """Build the encoder stored in ``folder``; ``arch`` (if given) must match what the folder
    holds."""
    found = detect_arch(folder)
    if arch is not None:
        encoder_builder(arch)  # unknown arch -> did-you-mean error
        if arch != found:
            raise HarnessError(
                f"encoder arch {arch!r} does not match the checkpoint at {folder}, which is "
                f"{found!r}"
            )
    kwargs = {"select_feature": select_feature, "dtype": dtype}
    if select_layer is not None:
        kwargs["select_layer"] = select_layer
    enc = encoder_builder(found)(folder, **kwargs)
    log.info(
        "encoder %s from %s: %s; preprocessing %s",
        found,
        folder,
        enc.describe(),
        enc.processing.describe() if enc.processing else None,
    )
    return enc
