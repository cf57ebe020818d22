"""Synthetic SEED-Bench in lmms-lab/SEED-Bench's schema (split ``test``): two image questions
for each of the nine image question types, plus two video rows (several frames, types 10
and 11) that the task must skip. ``image`` is a list of images, one for image rows."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from harness.demo.draw import shapes_image, text_image
from harness.demo.hub import png_bytes, write_hub_dataset

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    from datasets import Features

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle")


def _question(qtype: int, rng: random.Random) -> tuple[Image.Image, str, list[str], int]:
    """(image, question, four choices, index of the right one) for one question type."""
    shape, colour = rng.choice(SHAPES), rng.choice(COLOURS)
    n = rng.randint(1, 4)
    others = [c for c in COLOURS if c != colour]
    objs = [(shape, colour)] * (n if qtype == 5 else 1)
    img = shapes_image(objs, seed=rng.randint(0, 10**6))
    table = {
        1: (
            "What does the scene mostly show?",
            [f"{colour} shapes", "a city street", "a beach", "a kitchen"],
        ),
        2: (
            "What kind of object is in the image?",
            [shape, *[s for s in ("star", "heart", "ring")]],
        ),
        3: (f"What colour is the {shape}?", [colour, *others[:3]]),
        4: (
            f"Where is the {shape}?",
            ["on a plain background", "in the sky", "under water", "in a box"],
        ),
        5: (f"How many {shape}s are there?", [str(n), str(n + 1), str(n + 2), str(n + 3)]),
        6: (f"What is next to the {shape}?", ["nothing", "a dog", "a tree", "a car"]),
        7: (f"What is the {shape} doing?", ["resting", "running", "eating", "singing"]),
        8: (
            f"Could the {shape} roll away?",
            [
                "yes" if shape == "circle" else "no",
                "no" if shape == "circle" else "yes",
                "only at night",
                "never asked",
            ],
        ),
    }
    if qtype == 9:
        word = rng.choice(["SALE", "EXIT", "OPEN", "STOP"])
        img = text_image([word], size=(160, 80), font_size=24)
        return img, "What word is written in the image?", [word, "PUSH", "PULL", "WAIT"], 0
    question, choices = table[qtype]
    return img, question, choices, 0


def rows(seed: int, per_type: int = 2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for qtype in range(1, 10):
        for _ in range(per_type):
            img, question, choices, right = _question(qtype, rng)
            order = list(range(4))
            rng.shuffle(order)
            shuffled = [choices[o] for o in order]
            out.append(
                _row(
                    len(out),
                    qtype,
                    question,
                    shuffled,
                    "ABCD"[order.index(right)],
                    [png_bytes(img)],
                    "image",
                    f"demo_{len(out):05d}.png",
                )
            )
    for qtype in (10, 11):  # video rows: several frames each; not part of SEED-Image
        frames = [
            png_bytes(shapes_image([("circle", "red")], seed=rng.randint(0, 999))) for _ in range(3)
        ]
        out.append(
            _row(
                len(out),
                qtype,
                "What happens in the video?",
                ["a ball rolls", "nothing", "it rains", "a door opens"],
                "A",
                frames,
                "video",
                f"v{qtype}.mp4",
            )
        )
    return out


def _row(
    i: int,
    qtype: int,
    question: str,
    choices: Sequence[str],
    answer: str,
    images: list[dict[str, Any]],
    data_type: str,
    data_id: str,
) -> dict[str, Any]:
    return {
        "answer": answer,
        "choice_a": choices[0],
        "choice_b": choices[1],
        "choice_c": choices[2],
        "choice_d": choices[3],
        "data_id": data_id,
        "data_type": data_type,
        "question": question,
        "question_id": str(100000 + i),
        "question_type_id": qtype,
        "image": images,
        "segment": [0, 8] if data_type == "video" else None,
    }


def features() -> Features:
    """The hub schema's ``datasets.Features``."""
    from datasets import Features, Image, List, Value

    return Features(
        {
            "answer": Value("string"),
            "choice_a": Value("string"),
            "choice_b": Value("string"),
            "choice_c": Value("string"),
            "choice_d": Value("string"),
            "data_id": Value("string"),
            "data_type": Value("string"),
            "question": Value("string"),
            "question_id": Value("string"),
            "question_type_id": Value("int64"),
            "image": List(Image()),
            "segment": List(Value("int64")),
        }
    )


def build(folder: Path, seed: int = 0) -> None:
    write_hub_dataset(folder, {"default": {"test": rows(seed)}}, features())
