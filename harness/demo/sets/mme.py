"""Synthetic MME in lmms-lab/MME's schema (split ``test``): all 14 subtasks, one image per
subtask with one "Yes" and one "No" question (an image pair), questions ending in
" Please answer yes or no." as in the release."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw

from harness.demo.draw import COLORS, shapes_image, text_image
from harness.demo.hub import png_bytes, write_hub_dataset

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    from datasets import Features


def _position_image(left: str, right: str) -> Image.Image:
    img = Image.new("RGB", (200, 120), (245, 245, 245))
    d = ImageDraw.Draw(img)
    d.rectangle([20, 40, 60, 80], fill=COLORS[left])
    d.ellipse([140, 40, 180, 80], fill=COLORS[right])
    return img


def _items(rng: random.Random) -> list[tuple[str, Image.Image, str, str]]:
    """(subtask, image, yes-question, no-question) for each of the 14 subtasks."""
    n = rng.randint(2, 4)
    a, b = rng.randint(10, 40), rng.randint(2, 9)
    return [
        (
            "existence",
            shapes_image([("circle", "red"), ("square", "blue")], seed=rng.randint(0, 999)),
            "Is there a red circle in this image?",
            "Is there a green triangle in this image?",
        ),
        (
            "count",
            shapes_image([("circle", "green")] * n, seed=rng.randint(0, 999)),
            f"Are there {n} circles in this image?",
            f"Are there {n + 3} circles in this image?",
        ),
        (
            "position",
            _position_image("red", "blue"),
            "Is the red square on the left of the blue circle?",
            "Is the red square on the right of the blue circle?",
        ),
        (
            "color",
            shapes_image([("circle", "yellow")], seed=rng.randint(0, 999)),
            "Is the circle in the image yellow?",
            "Is the circle in the image purple?",
        ),
        (
            "posters",
            text_image(["NOW SHOWING", "THE BLUE RIVER"]),
            "Is this movie titled the blue river?",
            "Is this movie titled the red mountain?",
        ),
        (
            "celebrity",
            text_image(["PORTRAIT", "Ada Stone"]),
            "Is the actor inside the red bounding box named Ada Stone?",
            "Is the actor inside the red bounding box named Ben Cole?",
        ),
        (
            "scene",
            text_image(["FOREST TRAIL"], bg=(60, 140, 60), fg=(255, 255, 255)),
            "Is this picture captured in a place of forest path?",
            "Is this picture captured in a place of beach?",
        ),
        (
            "landmark",
            text_image(["OLD STONE TOWER"]),
            "Is this a photo of Old Stone Tower?",
            "Is this a photo of Glass Bridge?",
        ),
        (
            "artwork",
            text_image(["Sunrise Study", "by M. Lane"]),
            "Is this artwork created by M. Lane?",
            "Is this artwork created by R. Voss?",
        ),
        (
            "OCR",
            text_image(["OPEN 24 HOURS"]),
            'Is the word in the logo "OPEN 24 HOURS"?',
            'Is the word in the logo "CLOSED TODAY"?',
        ),
        (
            "commonsense_reasoning",
            text_image(["Umbrella", "Raincoat"]),
            "Are these items useful on a rainy day?",
            "Are these items used for swimming?",
        ),
        (
            "numerical_calculation",
            text_image([f"{a} + {b} ="]),
            f"Is the answer to the arithmetic question in the image {a + b}?",
            f"Is the answer to the arithmetic question in the image {a + b + 2}?",
        ),
        (
            "text_translation",
            text_image(["bonjour"]),
            "Is it appropriate to translate the French word in the image into English as 'hello'?",
            "Is it appropriate to translate the French word in the image into English as "
            "'goodbye'?",
        ),
        (
            "code_reasoning",
            text_image([f"print({b} * 3)"]),
            f"The image shows a python code. Is the output of the code '{b * 3}'?",
            f"The image shows a python code. Is the output of the code '{b * 3 + 1}'?",
        ),
    ]


def rows(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k, (subtask, img, yes_q, no_q) in enumerate(_items(rng)):
        cell = png_bytes(img)
        qid = f"{subtask}/{k:04d}.png"
        for question, answer in ((yes_q, "Yes"), (no_q, "No")):
            out.append(
                {
                    "question_id": qid,
                    "image": cell,
                    "question": f"{question} Please answer yes or no.",
                    "answer": answer,
                    "category": subtask,
                }
            )
    return out


def features() -> Features:
    """The hub schema's ``datasets.Features``."""
    from datasets import Features, Value
    from datasets import Image as HFImage

    return Features(
        {
            "question_id": Value("string"),
            "image": HFImage(),
            "question": Value("string"),
            "answer": Value("string"),
            "category": Value("string"),
        }
    )


def build(folder: Path, seed: int = 0) -> None:
    write_hub_dataset(folder, {"default": {"test": rows(seed)}}, features())
