"""Preprocessing follows preprocessor_config.json exactly (equal to transformers' PIL processors);
pad / resize / crop / anyres geometry by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness.errors import HarnessError
from harness.models.imageproc import (
    ImagePipeline,
    ImageProcessing,
    expand_to_square,
    normalize_aspect,
)
from tests.models.conftest import random_image

CLIP_CFG = {
    "image_processor_type": "CLIPImageProcessor",
    "size": {"shortest_edge": 56},
    "crop_size": {"height": 56, "width": 56},
    "do_center_crop": True,
    "resample": 3,
    "do_normalize": True,
    "do_rescale": True,
    "rescale_factor": 1 / 255,
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}
SIGLIP_CFG = {
    "image_processor_type": "SiglipImageProcessor",
    "size": {"height": 42, "width": 42},
    "resample": 2,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}


@pytest.mark.parametrize("size", [(90, 60), (50, 120), (56, 56)])
def test_equal_to_transformers_pil_processors(size):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    img = random_image(sum(size), *size)
    for cfg, cls in ((CLIP_CFG, CLIPImageProcessorPil), (SIGLIP_CFG, SiglipImageProcessorPil)):
        kwargs = {k: v for k, v in cfg.items() if k != "image_processor_type"}
        theirs = cls(**kwargs)(images=img, return_tensors="np")["pixel_values"][0]
        ours = ImageProcessing.from_dict(cfg)(img)
        assert ours.shape == theirs.shape and ours.dtype == np.float32
        np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_shortest_edge_without_crop_keeps_aspect_and_flags_are_honoured():
    proc = ImageProcessing.from_dict(
        {"size": {"shortest_edge": 28}, "do_center_crop": False, "do_normalize": False}
    )
    out = proc(random_image(0, 70, 35))
    assert out.shape == (3, 28, 56) and out.min() >= 0 and out.max() <= 1  # rescaled only
    raw = ImageProcessing.from_dict(
        {"do_resize": False, "do_rescale": False, "do_normalize": False}
    )
    img = random_image(1, 5, 4)
    np.testing.assert_array_equal(raw(img), np.asarray(img).transpose(2, 0, 1).astype(np.float32))
    with pytest.raises(HarnessError, match="unsupported 'size'"):
        ImageProcessing.from_dict({"size": {"longest_edge": 100}})


def test_expand_to_square_centres_on_mean_colour():
    img = Image.new("RGB", (4, 2), (255, 0, 0))
    sq = np.asarray(expand_to_square(img, (1, 2, 3)))
    assert sq.shape == (4, 4, 3)
    assert (
        (sq[0] == (1, 2, 3)).all() and (sq[3] == (1, 2, 3)).all() and (sq[1:3] == (255, 0, 0)).all()
    )
    tall = np.asarray(expand_to_square(Image.new("RGB", (1, 3), (9, 9, 9)), (0, 0, 0)))
    assert (tall[:, 1] == 9).all() and (tall[:, 0] == 0).all() and (tall[:, 2] == 0).all()


def test_aspect_modes():
    proc = ImageProcessing.from_dict(CLIP_CFG)
    img = Image.new("RGB", (112, 56), (200, 10, 10))
    pad = ImagePipeline(proc, "pad")(img)[0]
    # the padded rows hold the mean colour (int(mean * 255)), which normalises to about 0
    expected = (
        np.array([int(m * 255) for m in proc.image_mean]) / 255 - proc.image_mean
    ) / proc.image_std
    np.testing.assert_allclose(pad[:, 0, 28], expected, atol=1e-5)
    np.testing.assert_allclose(
        pad[:, 28, 28],
        (np.array([200, 10, 10]) / 255 - proc.image_mean) / proc.image_std,
        atol=1e-5,
    )
    resize = ImagePipeline(proc, "resize")(img)[0]
    np.testing.assert_allclose(resize[:, 0, 28], resize[:, 28, 28], atol=1e-5)  # squashed, no bars
    crop = ImagePipeline(proc, "crop")(random_image(3, 112, 56))
    assert crop.shape == (1, 3, 56, 56)
    assert normalize_aspect("square") == "crop" and normalize_aspect(None) == "crop"
    with pytest.raises(HarnessError, match="unknown image_aspect_ratio 'tiles'"):
        normalize_aspect("tiles")
    with pytest.raises(HarnessError, match="needs image_grid_pinpoints"):
        ImagePipeline(proc, "anyres")(img)


def test_anyres_equal_to_transformers_llava_next_processor():
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    pins_hw = [[56, 112], [112, 56], [112, 112]]
    kwargs = {k: v for k, v in CLIP_CFG.items() if k != "image_processor_type"}
    hf = LlavaNextImageProcessorPil(**kwargs, image_grid_pinpoints=pins_hw)
    pipe = ImagePipeline(
        ImageProcessing.from_dict(CLIP_CFG), "anyres", tuple((w, h) for h, w in pins_hw)
    )
    for w, h in ((100, 40), (45, 100), (60, 60)):
        img = random_image(w * h, w, h)
        theirs = hf(images=img, return_tensors="np", do_pad=False)["pixel_values"][0]
        ours = pipe(img)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert pipe(random_image(0, 100, 40)).shape[0] == 3  # overview + a 2x1 grid


def test_anyres_tiles_cut_the_letterboxed_canvas():
    proc = ImageProcessing.from_dict({**CLIP_CFG, "do_normalize": False})
    pipe = ImagePipeline(proc, "anyres", ((112, 56), (56, 112)))
    img = Image.new(
        "RGB", (112, 28), (255, 255, 255)
    )  # wide: fits 112x56 with black bars of 14 rows
    crops = pipe(img)
    assert crops.shape == (3, 3, 56, 56)
    left = crops[1]
    assert left[:, :14].max() == 0 and left[:, 42:].max() == 0 and left[:, 14:42].min() == 1
    np.testing.assert_array_equal(crops[1], crops[2])
