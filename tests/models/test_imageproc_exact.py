"""The pil backend's lookup-table normalisation gives the reference arithmetic's values bit for
bit: every byte value of every channel, every processor config the project ships or tests, random
images of every mode, each aspect mode's pipeline; and a table one ulp off is caught."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from harness.demo.models import _image_processor
from harness.models.imageproc import ImagePipeline, ImageProcessing, _center_crop
from tests.models.conftest import random_image
from tests.models.test_pixels import CLIP_336

# zero_std divides by zero on purpose (its infinities and NaNs are compared bit for bit)
pytestmark = pytest.mark.filterwarnings("ignore:.*encountered in divide:RuntimeWarning")

CLIP_L = {"image_processor_type": "CLIPImageProcessor", **CLIP_336}  # openai/...-336
SMALL = {"size": {"shortest_edge": 28}, "crop_size": {"height": 28, "width": 28}}
CONFIGS = {
    "demo_clip": _image_processor("clip"),
    "demo_siglip": _image_processor("siglip"),
    "demo_unit": _image_processor("clip", normalize=False),  # UNIT: rescale, no normalise
    "clip_l_336": CLIP_L,
    "siglip_42": {
        "image_processor_type": "SiglipImageProcessor",
        "size": {"height": 42, "width": 42},
        "resample": 2,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    },
    "imagenet": {
        **SMALL,
        "do_center_crop": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
    },
    "scalar_mean_std": {**SMALL, "image_mean": 0.5, "image_std": 0.25},
    "no_rescale": {**SMALL, "do_rescale": False, "image_mean": [120, 110, 100]},
    "no_normalise": {**SMALL, "do_normalize": False},
    "raw": {**SMALL, "do_rescale": False, "do_normalize": False},
    "odd_rescale": {**SMALL, "rescale_factor": 1 / 127.5, "image_mean": [1.0, 1.0, 1.0]},
    "zero_std": {**SMALL, "image_std": [0.0, -0.0, 1e-30], "image_mean": [0.0, 0.5, -0.0]},
}


# ---- the code before the lookup table (a private copy: the reference these tests hold to) -----
def old_arithmetic(proc: ImageProcessing, arr: np.ndarray) -> np.ndarray:
    out = arr.astype(np.float32)
    if proc.do_rescale:
        out = (arr.astype(np.float64) * proc.rescale_factor).astype(np.float32)
    if proc.do_normalize:
        mean = np.asarray(proc.image_mean, dtype=np.float32)[:, None, None]
        std = np.asarray(proc.image_std, dtype=np.float32)[:, None, None]
        out = (out - mean) / std
    return np.ascontiguousarray(out, dtype=np.float32)


def old_call(proc: ImageProcessing, image: Image.Image) -> np.ndarray:
    if proc.do_convert_rgb and image.mode != "RGB":
        image = image.convert("RGB")
    if proc.do_resize:
        target = proc._resize_to(*image.size)
        if target != image.size:
            image = image.resize(target, resample=Image.Resampling(proc.resample))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None].repeat(3, axis=2)
    arr = arr.transpose(2, 0, 1)
    if proc.do_center_crop and proc.crop_size:
        arr = _center_crop(arr, dict(proc.crop_size)["height"], dict(proc.crop_size)["width"])
    return old_arithmetic(proc, arr)


def old_pipeline(pipe: ImagePipeline, image: Image.Image) -> np.ndarray:
    """ImagePipeline.__call__ before, for the pil backend."""
    from harness.models.imageproc import expand_to_square

    proc = pipe.processing
    image = image.convert("RGB") if image.mode != "RGB" else image
    side = proc.square_side()
    if pipe.aspect == "pad":
        fill = tuple(int(x * 255) for x in proc.image_mean)
        return old_call(proc, expand_to_square(image, fill))[None]  # type: ignore[arg-type]
    if pipe.aspect == "resize":
        resample = Image.Resampling(proc.resample)
        return old_call(proc, image.resize((side, side), resample=resample))[None]
    if pipe.aspect == "crop":
        return old_call(proc, image)[None]
    return np.stack([old_call(proc, t) for t in pipe.anyres_crops(image, side)])


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shape, both float32 and C-contiguous, and every value the same bit pattern (so -0.0
    differs from 0.0, and NaNs are compared by their payloads)."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype == np.float32
        and a.flags.c_contiguous
        and b.flags.c_contiguous
        and np.array_equal(a.view(np.uint32), b.view(np.uint32))
    )


ALL_BYTES = np.arange(256, dtype=np.uint8).reshape(16, 16)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_byte_of_every_channel_equals_the_reference_arithmetic(name):
    proc = ImageProcessing.from_dict(CONFIGS[name])
    table = proc.lookup_table(3)
    assert table is not None and table.shape == (3, 256) and table.dtype == np.float32
    px = np.stack([ALL_BYTES] * 3)  # (3, 16, 16): all 256 values in each channel
    expected = old_arithmetic(proc, px)
    assert same_bits(table.reshape(3, 16, 16), expected)
    assert same_bits(proc.normalise(px), expected)
    # each channel on its own values: a channel's table row is not another channel's
    shuffled = np.stack([np.roll(ALL_BYTES, k) for k in (0, 85, 170)])
    assert same_bits(proc.normalise(shuffled), old_arithmetic(proc, shuffled))
    assert same_bits(proc.arithmetic(px), expected)  # the reference itself is unchanged


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_random_images_and_every_aspect_mode_are_bit_identical(name):
    proc = ImageProcessing.from_dict(CONFIGS[name])
    side = proc.square_side()
    pins = ((side, 2 * side), (2 * side, side), (2 * side, 2 * side))
    for seed, (w, h) in enumerate(((90, 60), (50, 120), (side, side), (3 * side + 1, side - 3))):
        img = random_image(seed, w, h)
        assert same_bits(proc(img), old_call(proc, img))
        for aspect in ("pad", "resize", "crop", "anyres"):
            pipe = ImagePipeline(proc, aspect, pins)
            assert same_bits(pipe(img), old_pipeline(pipe, img)), (aspect, w, h)


def test_image_modes_and_non_byte_pixels_fall_back_to_the_arithmetic():
    base = random_image(7, 40, 30)
    rgba = base.convert("RGBA")
    rgba.putalpha(Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40), np.uint8)))
    images = {
        "L": base.convert("L"),
        "P": base.convert("P"),
        "RGBA": rgba,
        "CMYK": base.convert("CMYK"),
        "1": base.convert("1"),
        "I;16": Image.fromarray(np.arange(1200, dtype=np.uint16).reshape(30, 40) * 50),
        "I": base.convert("I"),
        "F": base.convert("F"),
    }
    for keep_mode in (False, True):
        for cfg in (CONFIGS["demo_clip"], CONFIGS["no_rescale"], CONFIGS["raw"]):
            proc = ImageProcessing.from_dict({**cfg, "do_convert_rgb": not keep_mode})
            for mode, img in images.items():
                try:
                    want = old_call(proc, img)
                except Exception as exc:  # e.g. 4 channels against a 3-value mean
                    with pytest.raises(type(exc)):
                        proc(img)
                    continue
                assert same_bits(proc(img), want), (mode, keep_mode)


def test_a_mean_that_does_not_fit_the_channels_fails_as_before():
    proc = ImageProcessing.from_dict({**SMALL, "image_mean": [0.5, 0.5], "image_std": [1, 1]})
    assert proc.lookup_table(3) is None
    img = random_image(0, 30, 30)
    with pytest.raises(ValueError) as old:
        old_call(proc, img)
    with pytest.raises(ValueError) as new:
        proc(img)
    assert str(new.value) == str(old.value)
    one = ImageProcessing.from_dict({**SMALL, "image_mean": [0.5], "image_std": [0.25]})
    assert one.lookup_table(3) is not None and same_bits(one(img), old_call(one, img))


def test_a_table_one_ulp_off_is_caught():
    """The comparisons above see a single table entry moved by one ulp (so a wrong table cannot
    pass them)."""
    proc = ImageProcessing.from_dict(CONFIGS["demo_clip"])
    px = np.stack([ALL_BYTES] * 3)
    good = proc.normalise(px)
    assert same_bits(good, old_arithmetic(proc, px))
    table = proc.lookup_table(3)
    assert table is not None
    for c, v in ((0, 0), (1, 128), (2, 255)):
        saved = table[c, v]
        table[c, v] = np.nextafter(saved, np.float32(np.inf))
        try:
            bad = proc.normalise(px)
            assert not same_bits(bad, old_arithmetic(proc, px))
            assert np.count_nonzero(bad.view(np.uint32) != good.view(np.uint32)) == 1
            np.testing.assert_allclose(bad, good, rtol=1e-6)  # a difference no tolerance sees
        finally:
            table[c, v] = saved
    assert same_bits(proc.normalise(px), good)


def test_table_is_a_cache_not_a_setting():
    proc = ImageProcessing.from_dict(CONFIGS["demo_clip"])
    fresh = ImageProcessing.from_dict(CONFIGS["demo_clip"])
    img = random_image(3, 70, 50)
    first = proc(img)
    assert proc.lookup_table(3) is proc.lookup_table(3)  # built once
    assert proc == fresh and hash(proc) == hash(fresh) and repr(proc) == repr(fresh)
    assert proc.describe() == fresh.describe()
    back = pickle.loads(pickle.dumps(proc))
    assert back == proc and same_bits(back(img), first)
    other = ImageProcessing.from_dict({**CONFIGS["demo_clip"], "image_std": [0.5, 0.5, 0.5]})
    assert not same_bits(other(img), first)  # each processor its own table


def test_stack_equals_stacking_each_image():
    proc = ImageProcessing.from_dict(CONFIGS["demo_clip"])
    crops = [random_image(s, 56, 56) for s in range(4)] + [random_image(9, 80, 56)]
    out = proc.stack(crops)
    assert same_bits(out, np.stack([old_call(proc, c) for c in crops]))
    keep = ImageProcessing.from_dict({**CONFIGS["raw"], "do_convert_rgb": False})
    mixed = [random_image(1, 28, 28), random_image(2, 28, 28).convert("I")]
    assert same_bits(keep.stack(mixed), np.stack([old_call(keep, c) for c in mixed]))
    uneven = ImageProcessing.from_dict({"size": {"shortest_edge": 28}, "do_center_crop": False})
    with pytest.raises(ValueError, match="same shape"):
        uneven.stack([random_image(0, 28, 28), random_image(1, 56, 28)])
    with pytest.raises(ValueError):
        proc.stack([])
