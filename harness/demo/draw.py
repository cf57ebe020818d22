"""Drawing helpers for synthetic demo images: documents with text, bar charts, shapes."""

from __future__ import annotations

import random
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

RGB = tuple[int, int, int]

COLORS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
    "orange": (240, 140, 30),
    "purple": (140, 60, 180),
}


def font(size: int = 14) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def text_image(
    lines: Sequence[str],
    size: tuple[int, int] = (224, 160),
    bg: RGB = (255, 255, 255),
    fg: RGB = (0, 0, 0),
    font_size: int = 14,
) -> Image.Image:
    """A page with the given lines of text, top-left aligned."""
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    f = font(font_size)
    y = 8
    for line in lines:
        d.text((8, y), line, fill=fg, font=f)
        y += font_size + 6
    return img


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str = "",
    size: tuple[int, int] = (240, 180),
    color: RGB = (40, 80, 220),
) -> Image.Image:
    """A simple bar chart with value labels above bars."""
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    f = font(11)
    if title:
        d.text((8, 4), title, fill=(0, 0, 0), font=f)
    top, bottom = 24, h - 22
    vmax = max(max(values), 1e-9)
    bw = (w - 20) / max(len(values), 1)
    for i, (lab, v) in enumerate(zip(labels, values)):
        x0 = 10 + i * bw + bw * 0.15
        x1 = 10 + (i + 1) * bw - bw * 0.15
        y0 = bottom - (bottom - top) * (v / vmax)
        d.rectangle([x0, y0, x1, bottom], fill=color)
        d.text((x0, max(top - 12, y0 - 13)), f"{v:g}", fill=(0, 0, 0), font=f)
        d.text((x0, bottom + 4), str(lab), fill=(0, 0, 0), font=f)
    d.line([10, bottom, w - 10, bottom], fill=(0, 0, 0))
    return img


def shapes_image(
    objects: Sequence[tuple[str, str]],
    size: tuple[int, int] = (160, 160),
    seed: int = 0,
    bg: RGB = (245, 245, 245),
) -> Image.Image:
    """Draw ``(shape, colour)`` objects (circle|square|triangle) at seeded positions."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(img)
    w, h = size
    for shape, colour in objects:
        r = rng.randint(10, 22)
        cx, cy = rng.randint(r, w - r), rng.randint(r, h - r)
        fill = COLORS.get(colour, (128, 128, 128))
        if shape == "circle":
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif shape == "triangle":
            d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
        else:
            d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    return img
