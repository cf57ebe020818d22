"""UNIT (UNIT_600M, UNIT_1B): the project's own implementation that loads the released checkpoints
unchanged.

Written from the facts in ``shared/reference/encoders.md`` (no code of the authors' release is
used). Layout of the state dict, under the prefix ``unit_model.``::

    input_conditioner.norm_mean | norm_std          (3, 1, 1)   the model expects pixels in [0, 1]
    model.patch_generator.embedder.weight           (width, 3*14*14), no bias, computed in fp32
    model.patch_generator.pos_embed                 (1, (cpe_max_size/14)^2, width)
    model.patch_generator.cls_token.token           (num_cls + registers, width)
    model.blocks.{i}.*                              timm ViT blocks
    model.norm.*  (Identity when built with fc_norm)   model.fc_norm.* (loaded, unused for tokens)

``UNITModel.from_pretrained(path)(pixels)`` returns ``(cls_tokens, spatial_tokens)`` of shapes
(B, width) and (B, (H/14)*(W/14), width) for any H, W that are multiples of 14.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.errors import HarnessError
from harness.models.weights import load_checked, read_tensors, weight_files

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer

log = logging.getLogger(__name__)

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
# ViT sizes for timm names that are not registered (the release's 1B variant registers its own name)
_VIT_SIZES = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
    "huge": (1280, 32, 16),
    "giant": (1408, 40, 16),
    "gigantic": (1664, 48, 16),
}


def _round_to(x: int, multiple: int) -> int:
    return int(round(x / multiple) * multiple)


class InputConditioner(nn.Module):
    """``(x - mean) / std`` with the statistics stored as buffers of shape (3, 1, 1)."""

    norm_mean: torch.Tensor
    norm_std: torch.Tensor

    def __init__(self, mean: Sequence[float] = CLIP_MEAN, std: Sequence[float] = CLIP_STD) -> None:
        super().__init__()
        self.register_buffer("norm_mean", torch.tensor(mean, dtype=torch.float32).view(3, 1, 1))
        self.register_buffer("norm_std", torch.tensor(std, dtype=torch.float32).view(3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() - self.norm_mean.float()) / self.norm_std.float()


class ClsToken(nn.Module):
    def __init__(self, width: int, num_tokens: int):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(num_tokens, width))
        nn.init.normal_(self.token, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.token.to(x.dtype).unsqueeze(0).expand(x.shape[0], -1, -1), x], dim=1)


class PatchGenerator(nn.Module):
    """Patches in (c, y, x) order -> Linear (fp32) -> + resizable position table -> cls/register
    tokens."""

    def __init__(
        self, width: int, patch_size: int, max_size: int, num_tokens: int, in_chans: int = 3
    ):
        super().__init__()
        self.patch_size = patch_size
        self.grid = _round_to(max_size, patch_size) // patch_size
        self.embedder = nn.Linear(in_chans * patch_size * patch_size, width, bias=False)
        self.pos_embed = nn.Parameter(torch.randn(1, self.grid * self.grid, width) * 0.02)
        self.cls_token = ClsToken(width, num_tokens)

    def patchify(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        p = self.patch_size
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)  # b, gy, gx, c, y, x
        return x.reshape(b, (h // p) * (w // p), c * p * p)

    def positions(self, gh: int, gw: int) -> torch.Tensor:
        """The table for a gh x gw grid: resized to max(gh, gw)^2 (bilinear, align_corners) and
        windowed."""
        table = self.pos_embed.float()
        side = max(gh, gw)
        if side != self.grid:
            grid = table.reshape(1, self.grid, self.grid, -1).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(side, side), mode="bilinear", align_corners=True)
            table = grid.permute(0, 2, 3, 1).reshape(1, side * side, -1)
        if (gh, gw) != (side, side):
            table = table.reshape(1, side, side, -1)[:, :gh, :gw].reshape(1, gh * gw, -1)
        return table

    def forward(self, x: torch.Tensor, out_dtype: torch.dtype) -> torch.Tensor:
        p = self.patch_size
        h, w = x.shape[-2:]
        if h % p or w % p:
            raise HarnessError(
                f"UNIT: input {h}x{w} is not a multiple of the patch size {p} on both sides"
            )
        with torch.autocast(device_type=x.device.type, enabled=False):
            tokens = F.linear(self.patchify(x.float()), self.embedder.weight.float())
            tokens = tokens + self.positions(h // p, w // p).to(tokens.device)
        out: torch.Tensor = self.cls_token(tokens.to(out_dtype))
        return out


class UNITBackbone(nn.Module):
    """``unit_model.model``: the patch generator, timm ViT blocks and the final norm(s)."""

    def __init__(
        self,
        patch_generator: PatchGenerator,
        blocks: nn.Sequential,
        norm: nn.Module,
        fc_norm: nn.Module,
    ):
        super().__init__()
        self.patch_generator, self.blocks, self.norm, self.fc_norm = (
            patch_generator,
            blocks,
            norm,
            fc_norm,
        )


class _Wrapper(nn.Module):
    def __init__(self, backbone: UNITBackbone):
        super().__init__()
        self.input_conditioner = InputConditioner()
        self.model = backbone


class UNITModel(nn.Module):
    """The UNIT vision encoder. ``model(pixels in [0, 1]) -> (cls_tokens, spatial_tokens)``."""

    def __init__(self, args: dict[str, Any], depth: int | None = None):
        super().__init__()
        self.args = dict(args)
        vit = build_timm_vit(self.args, depth)
        width = vit.embed_dim
        self.patch_size = _patch_size(vit)
        self.num_cls_tokens = int(self.args.get("num_cls_tokens") or 1)
        rm = int(self.args.get("register_multiple") or 0)
        self.num_registers = rm - (self.num_cls_tokens % rm) if rm > 0 else 0
        max_size = int(self.args.get("cpe_max_size") or 2048)
        gen = PatchGenerator(
            width,
            self.patch_size,
            max_size,
            self.num_cls_tokens + self.num_registers,
            int(self.args.get("in_chans") or 3),
        )
        self.unit_model = _Wrapper(UNITBackbone(gen, vit.blocks, vit.norm, vit.fc_norm))
        self.width, self.depth = width, len(vit.blocks)

    @property
    def num_prefix_tokens(self) -> int:
        return self.num_cls_tokens + self.num_registers

    def forward_tokens(self, pixels: torch.Tensor, blocks: int | None = None) -> torch.Tensor:
        """All tokens after the patch generator and the first ``blocks`` blocks (all by default),
        before the final norm.

        Only the current state is kept, so memory does not grow with depth.
        """
        m = self.unit_model.model
        dtype = next(m.blocks.parameters()).dtype
        x: torch.Tensor = m.patch_generator(self.unit_model.input_conditioner(pixels), dtype)
        for block in list(m.blocks)[: len(m.blocks) if blocks is None else blocks]:
            x = block(x)
        return x

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.unit_model.model.norm(self.forward_tokens(pixels))
        return x[:, 0], x[:, self.num_prefix_tokens :]

    # ---- checkpoints ------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, dtype: torch.dtype | None = None) -> UNITModel:
        """Load ``config.json`` (``args``) + ``model.safetensors``/``pytorch_model.bin``
        strictly."""
        folder = Path(path)
        args = read_args(folder)
        files = weight_files(folder)
        if not files:
            raise HarnessError(f"{folder}: no model.safetensors or pytorch_model.bin")
        sd = read_tensors(files)
        depth = _count_blocks(sd)
        with torch.device("meta"):
            model = cls(args, depth=depth)
        load_checked(model, sd, f"UNIT checkpoint {folder}")
        if dtype is not None:
            model.to(dtype)
        log.info(
            "UNIT %s: width %d, depth %d, patch %d, %d cls + %d register tokens, position grid %d",
            folder,
            model.width,
            model.depth,
            model.patch_size,
            model.num_cls_tokens,
            model.num_registers,
            model.unit_model.model.patch_generator.grid,
        )
        return model.eval()

    def save_pretrained(self, path: str | Path) -> None:
        """Write the released layout: config.json with ``args`` and model.safetensors."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        cfg = {"architectures": ["UNITModel"], "args": self.args, "version": "v1"}
        (folder / "config.json").write_text(json.dumps(cfg, indent=2))
        save_file(
            {k: v.contiguous() for k, v in self.state_dict().items()},
            str(folder / "model.safetensors"),
        )


def read_args(folder: Path) -> dict[str, Any]:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise HarnessError(f"UNIT checkpoint {folder}: config.json not found")
    try:
        cfg = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{cfg_path}: invalid JSON ({exc})") from None
    args = cfg.get("args") if isinstance(cfg, dict) else None
    if not isinstance(args, dict) or "model" not in args:
        raise HarnessError(
            f"{cfg_path}: no 'args' with a timm 'model' name (not a UNIT checkpoint)"
        )
    return args


def _count_blocks(sd: dict[str, torch.Tensor]) -> int | None:
    ids = {int(m.group(1)) for k in sd if (m := re.match(r"unit_model\.model\.blocks\.(\d+)\.", k))}
    return max(ids) + 1 if ids else None


def _patch_size(vit: VisionTransformer) -> int:
    ps = vit.patch_embed.patch_size
    return int(ps[0] if isinstance(ps, (tuple, list)) else ps)


def build_timm_vit(args: dict[str, Any], depth: int | None = None) -> VisionTransformer:
    """A timm VisionTransformer from the checkpoint's ``args`` (timm ``create_model`` arguments).

    A name timm does not know (the release's registered 1B variant) is built from its size word
    and patch size, with the depth found in the checkpoint.
    """
    import timm
    from timm.models.vision_transformer import VisionTransformer

    name = str(args["model"])
    kwargs = {
        k: v
        for k, v in dict(args.get("model_kwargs") or {}).items()
        if v is not None and k != "weight_init"
    }
    top = {
        "num_classes": args.get("num_classes"),
        "global_pool": args.get("gp"),
        "drop_rate": args.get("drop"),
        "drop_path_rate": args.get("drop_path"),
        "in_chans": args.get("in_chans"),
    }
    kwargs.update({k: v for k, v in top.items() if v is not None})
    kwargs.setdefault("num_classes", 0)
    if timm.is_model(name):
        vit = timm.create_model(name, pretrained=False, **kwargs)
        if not isinstance(vit, VisionTransformer):
            raise HarnessError(f"UNIT: timm model {name} is a {type(vit).__name__}, not a ViT")
        if depth is not None and depth != len(vit.blocks):
            raise HarnessError(
                f"UNIT: timm model {name} has {len(vit.blocks)} blocks, the checkpoint {depth}"
            )
        return vit
    m = re.match(r"vit_([a-z]+)_patch(\d+)", name)
    if not m or m.group(1) not in _VIT_SIZES:
        raise HarnessError(
            f"UNIT: unknown timm model {name!r} (not registered in timm {timm.__version__}, "
            f"and not vit_<{'|'.join(_VIT_SIZES)}>_patch<N>...)"
        )
    width, default_depth, heads = _VIT_SIZES[m.group(1)]
    base = {
        "patch_size": int(m.group(2)),
        "embed_dim": width,
        "depth": depth or default_depth,
        "num_heads": heads,
    }
    log.info("UNIT: %s is not a timm model; building a ViT with %s", name, {**base, **kwargs})
    return VisionTransformer(**{**base, **kwargs})
