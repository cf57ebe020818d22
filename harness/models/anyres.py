"""AnyRes grid slicing (LLaVA-NeXT style): choose a grid, and pack tile features back into one
sequence.

Sizes here are ``(width, height)`` pairs. Pin-point lists in the LLaVA code base are read as
``[width, height]``; transformers' LlavaNext configs list ``[height, width]`` (the loader swaps
them before they reach this module).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import torch

Size = tuple[int, int]


def parse_pinpoints(spec: str | Sequence[Sequence[int]], tile: int) -> list[Size]:
    """Pin-points as ``(width, height)`` pairs from a list of pairs or LLaVA's ``"(1x1),...,(3x3)"``
    range form.

    >>> parse_pinpoints([[336, 672], [672, 336]], 336)
    [(336, 672), (672, 336)]
    >>> parse_pinpoints("(1x1),...,(2x2)", 14)
    [(14, 14), (14, 28), (28, 14), (28, 28)]
    """
    if isinstance(spec, str):
        pairs = [tuple(map(int, m)) for m in re.findall(r"\((\d+)x(\d+)\)", spec)]
        if len(pairs) < 2 or "..." not in spec:
            return [(a * tile, b * tile) for a, b in pairs]
        (a0, b0), (a1, b1) = pairs[0], pairs[-1]
        return [(i * tile, j * tile) for i in range(a0, a1 + 1) for j in range(b0, b1 + 1)]
    return [(int(w), int(h)) for w, h in spec]


def select_best_resolution(size: Size, candidates: Sequence[Size]) -> Size:
    """The candidate that keeps the most image pixels after fitting, then wastes the fewest.

    >>> select_best_resolution((800, 400), [(336, 672), (672, 336), (672, 672)])
    (672, 336)
    >>> select_best_resolution((100, 100), [(336, 672), (672, 336), (672, 672)])
    (336, 672)
    """
    w, h = size
    best, best_eff, best_waste = None, -1, math.inf
    for cw, ch in candidates:
        scale = min(cw / w, ch / h)
        dw, dh = int(w * scale), int(h * scale)
        effective = min(dw * dh, w * h)
        waste = cw * ch - effective
        if effective > best_eff or (effective == best_eff and waste < best_waste):
            best, best_eff, best_waste = (cw, ch), effective, waste
    assert best is not None, "no candidate resolutions"
    return best


def fit_size(size: Size, target: Size) -> Size:
    """Size of ``size`` scaled to fit inside ``target`` keeping its aspect (rounded up, clamped).

    >>> fit_size((800, 400), (672, 336))
    (672, 336)
    >>> fit_size((300, 400), (672, 672))
    (504, 672)
    """
    w, h = size
    tw, th = target
    sw, sh = tw / w, th / h
    if sw < sh:
        return tw, min(math.ceil(h * sw), th)
    return min(math.ceil(w * sh), tw), th


def grid_shape(size: Size, candidates: Sequence[Size], tile: int) -> tuple[int, int]:
    """(columns, rows) of tiles for an image of ``size``.

    >>> grid_shape((800, 400), [(336, 672), (672, 336)], 336)
    (2, 1)
    """
    w, h = select_best_resolution(size, candidates)
    return w // tile, h // tile


def unpad(features: torch.Tensor, size: Size) -> torch.Tensor:
    """Crop (C, H, W) features of a letter-boxed image back to the image's own aspect ratio.

    >>> unpad(torch.zeros(1, 4, 4), (200, 100)).shape
    torch.Size([1, 2, 4])
    """
    w, h = size
    cur_h, cur_w = features.shape[1:]
    if w / h > cur_w / cur_h:
        new_h = int(round(h * (cur_w / w), 7))
        pad = (cur_h - new_h) // 2
        return features[:, pad : cur_h - pad, :]
    new_w = int(round(w * (cur_h / h), 7))
    pad = (cur_w - new_w) // 2
    return features[:, :, pad : cur_w - pad]


def pack(
    features: torch.Tensor,
    size: Size,
    candidates: Sequence[Size],
    tile: int,
    merge: str = "spatial_unpad",
    newline: torch.Tensor | None = None,
) -> torch.Tensor:
    """Features of one image's crops (overview first; (n, side*side, C)) as one (tokens, C)
    sequence.

    ``merge``: ``flat`` (crops one after another), ``spatial`` (tiles re-assembled row by row after
    the overview), ``spatial_unpad`` (re-assembled, padding cropped, a ``newline`` vector after
    each row of tokens).
    """
    if merge == "flat":
        return features.flatten(0, 1)
    if merge not in ("spatial", "spatial_unpad"):
        raise ValueError(
            f"unknown mm_patch_merge_type {merge!r}; valid: flat, spatial, spatial_unpad"
        )
    base = features[0]
    if features.shape[0] == 1:
        if merge == "spatial_unpad" and newline is not None:
            return torch.cat([base, newline[None].to(base)], dim=0)
        return base
    side = math.isqrt(features.shape[1])
    if side * side != features.shape[1]:
        raise ValueError(
            f"anyres: {features.shape[1]} tokens per tile is not a square grid (is a CLS token "
            "kept?)"
        )
    cols, rows = grid_shape(size, candidates, tile)
    if cols * rows != features.shape[0] - 1:
        raise ValueError(f"anyres: {features.shape[0] - 1} tiles for a {cols}x{rows} grid")
    tiles = features[1:].view(rows, cols, side, side, -1)
    if merge == "spatial":
        return torch.cat([base, tiles.permute(0, 2, 1, 3, 4).flatten(0, 3)], dim=0)
    grid = tiles.permute(4, 0, 2, 1, 3).flatten(1, 2).flatten(2, 3)  # C, rows*side, cols*side
    grid = unpad(grid, size)
    if newline is not None:
        grid = torch.cat(
            [grid, newline[:, None, None].to(grid).expand(*grid.shape[:-1], 1)], dim=-1
        )
    return torch.cat([base, grid.flatten(1, 2).transpose(0, 1)], dim=0)
