"""Synthetic OK-VQA questions in lmms-lab/OK-VQA's schema (default config, split val2014): ten
human answers per question, with the agreement patterns the VQA soft accuracy distinguishes."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.demo.draw import shapes_image
from harness.demo.hub import png_bytes, write_hub_dataset

# (question, answer, shape, colour): the knowledge question names an everyday thing of that colour.
FACTS = [
    ("What fruit has the color of the circle?", "banana", "circle", "yellow"),
    ("What vegetable has the color of the square?", "carrot", "square", "orange"),
    ("What grows in a field and has the color of the triangle?", "grass", "triangle", "green"),
    ("Which sign that means stop has the color of the circle?", "stop sign", "circle", "red"),
    ("What large body of water has the color of the square?", "ocean", "square", "blue"),
    ("How many sides does the shape in the picture have?", "4", "square", "purple"),
    ("How many corners does the shape in the picture have?", "3", "triangle", "red"),
    ("What fruit of this color grows on vines?", "grape", "circle", "purple"),
]
OTHERS = ["apple", "lemon", "sky", "unanswerable", "tree", "plum"]


def answers(answer: str, pattern: int, rng: random.Random) -> list[str]:
    """Ten answers: unanimous, a 6/4 split, a 4/6 split with a written-out number or an article
    (equal after normalisation), or 5 + 5 where the majority reaches 5."""
    other = rng.choice([o for o in OTHERS if o != answer])
    variant = {"4": "four", "3": "three"}.get(answer, f"the {answer}")
    out = {
        0: [answer] * 10,
        1: [answer] * 6 + [other] * 4,
        2: [answer] * 2 + [variant] * 2 + [other] * 3 + [answer] * 3,
        3: [answer] * 5 + [other] * 3 + [variant] * 2,
    }[pattern]
    rng.shuffle(out)
    return out


def rows(seed: int, n: int = 24) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        question, answer, shape, colour = FACTS[k % len(FACTS)]
        img = png_bytes(shapes_image([(shape, colour)], seed=seed * 1000 + k))
        out.append(
            {
                "question_id": str(2971475 + 10 * k),
                "image": img,
                "question": question,
                "answers": answers(answer, k % 4, rng),
                "question_type": "other",
                "answer_type": "other",
            }
        )
    return out


def build(folder: Path, seed: int = 0) -> None:
    from datasets import Features, Image, List, Value

    feats = Features(
        {
            "question_id": Value("string"),
            "image": Image(),
            "question": Value("string"),
            "answers": List(Value("string")),
            "question_type": Value("string"),
            "answer_type": Value("string"),
        }
    )
    write_hub_dataset(folder, {"default": {"val2014": rows(seed)}}, feats)
