"""Synthetic POPE in lmms-lab/POPE's schema (config ``default``, split ``test``): shape scenes
with yes/no "Is there a ... in the image?" questions, every split (category) covered, two
yes and two no questions per image. Question ids restart at 1 in each split, as in the release."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.demo.draw import COLORS, shapes_image
from harness.demo.hub import png_bytes, write_hub_dataset

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    from datasets import Features

SHAPES = ("circle", "square", "triangle")
SPLITS = ("adversarial", "popular", "random")


def rows(seed: int, images_per_split: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    colours = [c for c in COLORS if c not in ("white",)]
    objects = [(s, c) for s in SHAPES for c in colours]
    out: list[dict[str, Any]] = []
    for split in SPLITS:
        qid = 0
        for k in range(images_per_split):
            present = rng.sample(objects, 3)
            absent = rng.sample([o for o in objects if o not in present], 2)
            name = f"demo_{split}_{k:03d}.png"
            img = png_bytes(shapes_image(present, seed=rng.randint(0, 10**6)))
            qs = [(o, "yes") for o in present[:2]] + [(o, "no") for o in absent]
            rng.shuffle(qs)
            for (shape, colour), answer in qs:
                qid += 1
                out.append(
                    {
                        "id": f"{len(out):04d}",
                        "question_id": str(qid),
                        "question": f"Is there {_article(colour)} {colour} {shape} in the image?",
                        "answer": answer,
                        "image_source": name,
                        "image": img,
                        "category": split,
                    }
                )
    return out


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def features() -> Features:
    """The hub schema's ``datasets.Features``."""
    from datasets import Features, Image, Value

    return Features(
        {
            "id": Value("string"),
            "question_id": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
            "image_source": Value("string"),
            "image": Image(),
            "category": Value("string"),
        }
    )


def build(folder: Path, seed: int = 0) -> None:
    write_hub_dataset(folder, {"default": {"test": rows(seed)}}, features())
