"""Synthetic infographics in lmms-lab/DocVQA's schema (config InfographicVQA, split validation);
three questions per infographic."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from harness.demo.draw import COLORS, font, text_image
from harness.demo.hub import png_bytes, write_hub_dataset

TOPICS = ["Coffee", "Cycling", "Solar power", "Reading", "Recycling", "Tourism"]
CITIES = ["Lima", "Oslo", "Cairo", "Perth", "Quito", "Riga"]


def infographic(title: str, lines: list[str], colour: str) -> Image.Image:
    img = text_image([""] * 2 + lines, size=(240, 180))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 240, 30], fill=COLORS[colour])
    d.text((8, 8), title.upper(), fill=(255, 255, 255), font=font(14))
    return img


def rows(seed: int, n: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for d in range(n):
        topic, city = TOPICS[d % len(TOPICS)], rng.choice(CITIES)
        people, share = (
            f"{rng.randint(2, 40)}.{rng.randint(1, 9)} million",
            f"{rng.randint(5, 95)}%",
        )
        img = png_bytes(
            infographic(
                f"{topic} facts",
                [f"Fans: {people}", f"Share: {share}", f"Top city: {city}"],
                rng.choice(["blue", "green", "purple", "orange"]),
            )
        )
        qas = [
            (
                f"How many people are fans of {topic.lower()}?",
                [people, people.replace(" million", "m")],
                ["number"],
                ["counting"],
            ),
            (
                "What percentage is shown as the share?",
                [share, share.rstrip("%") + " %"],
                ["number"],
                [],
            ),
            ("Which city is the top city?", [city], ["single span"], []),
        ]
        for q, (question, answers, atype, reasoning) in enumerate(qas):
            out.append(
                {
                    "questionId": str(98000 + 10 * d + q),
                    "question": question,
                    "answers": answers,
                    "answer_type": atype,
                    "image": img,
                    "image_url": f"https://example.org/infographic/{d}.jpg",
                    "operation/reasoning": reasoning,
                    "ocr": "",
                    "data_split": "val",
                }
            )
    return out


def build(folder: Path, seed: int = 0) -> None:
    from datasets import Features, Image, List, Value

    feats = Features(
        {
            "questionId": Value("string"),
            "question": Value("string"),
            "answers": List(Value("string")),
            "answer_type": List(Value("string")),
            "image": Image(),
            "image_url": Value("string"),
            "operation/reasoning": List(Value("string")),
            "ocr": Value("string"),
            "data_split": Value("string"),
        }
    )
    write_hub_dataset(folder, {"InfographicVQA": {"validation": rows(seed)}}, feats)
