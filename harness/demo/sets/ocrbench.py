"""Synthetic OCRBench items in echo840/OCRBench's schema (default config, split test): three per
question type, covering all ten (the six text-recognition sub-types included) and HME100k
formulas, whose answers are compared with their spaces removed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.demo.draw import text_image
from harness.demo.hub import png_bytes, write_hub_dataset

WORDS = ["CUMBERLAND", "harbour", "Gallery", "express", "MARKET", "station", "Bakery", "orchid"]
RECOGNITION = {
    "Regular Text Recognition": "IIIT5K",
    "Irregular Text Recognition": "CUTE80",
    "Artistic Text Recognition": "WordArt",
    "Handwriting Recognition": "IAM",
    "Digit String Recognition": "ORAND",
    "Non-Semantic Text Recognition": "NonSemanticText",
}
DIRECTLY = "Answer this question using the text in the image directly."
LATEX = "LaTeX format"
FORMULAS = ["x ^ { 2 } + 3 x - 1 = 0", "\\frac { a } { b } = c", "\\sqrt { y } + Y _ { 1 }"]


def recognition(category: str, rng: random.Random) -> tuple[str, str, list[str]]:
    if category == "Digit String Recognition":
        text = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 8)))
        return "what is the number in the image?", text, [text]
    if category == "Non-Semantic Text Recognition":
        text = "".join(rng.choice("bcdfghkmnpqrstvwxz") for _ in range(6))
        return "what is written in the image?", text, [text]
    word = rng.choice(WORDS)
    return "what is written in the image?", word, [word]


def vqa(category: str, k: int, rng: random.Random) -> tuple[str, str, str, list[str]]:
    """(source, question, text drawn, answers) for the VQA, KIE and formula categories."""
    word = rng.choice(WORDS)
    if category == "Scene Text-centric VQA":
        return (
            ["textVQA", "STVQA", "ESTVQA"][k],
            "what is the name of the shop?",
            f"{word} SHOP",
            [word, word.lower()],
        )
    if category == "Doc-oriented VQA":
        year = str(rng.randint(1950, 2020))
        return (
            ["docVQA", "infographicVQA", "ChartQA"][k],
            "In which year was the report issued?",
            f"Report {year}",
            [year],
        )
    if category == "Key Information Extraction":
        total = f"{rng.randint(1, 99)}.{rng.randint(0, 99):02d}"
        answer = "ＴＯＴＡＬ" + total if k == 2 else total  # full-width forms, folded by lmms-eval
        return (
            ["FUNSD", "SROIE", "POIE"][k],
            f"What is the total amount in the receipt? {DIRECTLY}",
            f"TOTAL {total}",
            [answer],
        )
    formula = FORMULAS[k]
    return (
        "HME100k",
        f"Please write out the expression of the formula in the image using {LATEX}.",
        formula,
        [formula],
    )


def rows(seed: int, per_category: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for category, source in RECOGNITION.items():
        for _ in range(per_category):
            question, text, answers = recognition(category, rng)
            out.append((source, question, category, text, answers))
    for category in (
        "Scene Text-centric VQA",
        "Doc-oriented VQA",
        "Key Information Extraction",
        "Handwritten Mathematical Expression Recognition",
    ):
        for k in range(per_category):
            source, question, text, answers = vqa(category, k, rng)
            out.append((source, question, category, text, answers))
    return [
        {
            "dataset": source,
            "question": question,
            "question_type": category,
            "answer": answers,
            "image": png_bytes(text_image([text], size=(200, 48), font_size=16)),
        }
        for source, question, category, text, answers in out
    ]


def build(folder: Path, seed: int = 0) -> None:
    from datasets import Features, Image, List, Value

    feats = Features(
        {
            "dataset": Value("string"),
            "question": Value("string"),
            "question_type": Value("string"),
            "answer": List(Value("string")),
            "image": Image(),
        }
    )
    write_hub_dataset(folder, {"default": {"test": rows(seed)}}, feats)
