"""Synthetic GQA scenes in lmms-lab/GQA's schema: configs testdev_balanced_instructions (questions)
and testdev_balanced_images (images), split testdev; four questions per image."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.demo.draw import shapes_image
from harness.demo.hub import png_bytes, write_hub_dataset

SHAPES = ["circle", "square", "triangle"]
COLOURS = ["red", "green", "blue", "yellow", "orange", "purple"]


def scene(rng: random.Random) -> list[tuple[str, str]]:
    shapes = rng.sample(SHAPES, rng.choice([2, 3]))
    return list(zip(shapes, rng.sample(COLOURS, len(shapes))))


def questions(objects: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str, str]]:
    """(question, answer, structural type) tuples about one scene."""
    (shape, colour), absent = (
        objects[0],
        next(s for s in SHAPES + ["star"] if s not in {o[0] for o in objects}),
    )
    present = rng.choice(objects)[0]
    return [
        (f"What color is the {shape}?", colour, "query"),
        (f"What shape is the {objects[-1][1]} object?", objects[-1][0], "query"),
        (f"Is there a {absent} in the picture?", "no", "verify"),
        (f"Is there a {present} in the picture?", "yes", "verify"),
    ]


def rows(seed: int, n_images: int = 8) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    qrows, irows = [], []
    for d in range(n_images):
        image_id = f"n{161313 + 37 * d}"
        objects = scene(rng)
        irows.append(
            {"id": image_id, "image": png_bytes(shapes_image(objects, seed=seed * 1000 + d))}
        )
        for q, (question, answer, structural) in enumerate(questions(objects, rng)):
            qrows.append(
                {
                    "id": str(20968379 + 10 * d + q),
                    "imageId": image_id,
                    "question": question,
                    "answer": answer,
                    "fullAnswer": f"The answer is {answer}.",
                    "isBalanced": True,
                    "types": {"structural": structural, "semantic": "attr", "detailed": "demo"},
                    "semanticStr": f"select: {objects[0][0]} ->query: color",
                }
            )
    rng.shuffle(qrows)  # questions of one image are not adjacent in the real file either
    return qrows, irows


def build(folder: Path, seed: int = 0) -> None:
    from datasets import Features, Image, Value

    qrows, irows = rows(seed)
    qfeats = Features(
        {
            "id": Value("string"),
            "imageId": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
            "fullAnswer": Value("string"),
            "isBalanced": Value("bool"),
            "types": {
                "structural": Value("string"),
                "semantic": Value("string"),
                "detailed": Value("string"),
            },
            "semanticStr": Value("string"),
        }
    )
    ifeats = Features({"id": Value("string"), "image": Image()})
    write_hub_dataset(
        folder,
        {
            "testdev_balanced_instructions": {"testdev": qrows},
            "testdev_balanced_images": {"testdev": irows},
        },
        {"testdev_balanced_instructions": qfeats, "testdev_balanced_images": ifeats},
    )
