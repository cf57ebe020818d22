"""AnyRes packing worked by hand: tile order, unpadding, newline placement."""

from __future__ import annotations

import pytest
import torch

from harness.models.anyres import pack, parse_pinpoints, select_best_resolution


def _crops(n: int, side: int = 2) -> torch.Tensor:
    """Crop k holds value 100*k + position in its side x side grid (one channel)."""
    return torch.stack(
        [torch.arange(side * side, dtype=torch.float32) + 100 * k for k in range(n)]
    )[..., None]


def test_spatial_reassembles_tiles_row_by_row():
    # a 2x1 grid of 2x2-token tiles (image 4 px wide, 2 high on a tile of 2): tiles 1 and 2 side
    # by side
    feats = _crops(3)
    out = pack(feats, (4, 2), [(4, 2)], 2, merge="spatial")[:, 0].tolist()
    assert out[:4] == [0, 1, 2, 3]  # overview first
    assert out[4:] == [100, 101, 200, 201, 102, 103, 202, 203]


def test_spatial_unpad_crops_padding_and_adds_newlines():
    # grid 2x2 tiles of 2x2 -> a 4x4 token map; the image is 4:2, so the top and bottom token rows
    # are padding
    feats = _crops(5)
    newline = torch.tensor([-1.0])
    out = pack(feats, (40, 20), [(4, 4)], 2, merge="spatial_unpad", newline=newline)[:, 0].tolist()
    assert out[:4] == [0, 1, 2, 3]
    # full map rows: [100,101,200,201] [102,103,202,203] [300,301,400,401] [302,303,402,403];
    # keep rows 1..2
    assert out[4:] == [102, 103, 202, 203, -1, 300, 301, 400, 401, -1]


def test_flat_and_single_crop():
    feats = _crops(3)
    assert pack(feats, (4, 2), [(4, 2)], 2, merge="flat").shape == (12, 1)
    one = pack(_crops(1), (4, 2), [(4, 2)], 2, merge="spatial_unpad", newline=torch.tensor([7.0]))
    assert one[:, 0].tolist() == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="not a square grid"):
        pack(torch.zeros(3, 5, 1), (4, 2), [(4, 2)], 2)
    with pytest.raises(ValueError, match="unknown mm_patch_merge_type"):
        pack(feats, (4, 2), [(4, 2)], 2, merge="zigzag")


def test_pinpoint_forms_and_choice():
    assert parse_pinpoints("(1x1),...,(2x3)", 10) == [
        (10, 10),
        (10, 20),
        (10, 30),
        (20, 10),
        (20, 20),
        (20, 30),
    ]
    assert parse_pinpoints("(1x2),(2x1)", 10) == [(10, 20), (20, 10)]
    # a tall image picks the tall grid; equal fits pick the least waste
    assert select_best_resolution((300, 900), [(672, 336), (336, 672), (336, 1008)]) == (336, 1008)
    assert select_best_resolution((336, 336), [(672, 672), (336, 672)]) == (336, 672)
