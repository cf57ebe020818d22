"""Synthetic MathVista testmini in AI4Math/MathVista's schema (split ``testmini``): every
question type (multi_choice, free_form) and answer type (text, integer, float with precision
1 and 2, list), units on some, the five tasks and several skills in ``metadata``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from harness.demo.draw import bar_chart, shapes_image, text_image
from harness.demo.hub import png_bytes, write_hub_dataset

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    from datasets import Features

FQA, GPS, MWP, TQA, VQA = (
    "figure question answering",
    "geometry problem solving",
    "math word problem",
    "textbook question answering",
    "visual question answering",
)


def _problems(rng: random.Random) -> list[dict[str, Any]]:
    vals = [rng.randint(2, 9) for _ in range(4)]
    labels = ["A1", "B2", "C3", "D4"]
    chart = bar_chart(labels, vals, title="Sales")
    top = labels[vals.index(max(vals))]
    n = rng.randint(2, 5)
    price, qty = rng.choice([1.25, 2.75, 3.45]), rng.randint(2, 4)
    side = rng.randint(3, 9)

    def mc(
        q: str, img: Image.Image, ch: list[str], ans: str, task: str, skills: list[str]
    ) -> dict[str, Any]:
        return dict(
            q=q,
            img=img,
            choices=ch,
            answer=ans,
            qt="multi_choice",
            at="text",
            task=task,
            skills=skills,
        )

    def ff(
        q: str,
        img: Image.Image,
        ans: str,
        at: str,
        task: str,
        skills: list[str],
        unit: str | None = None,
        prec: float | None = None,
    ) -> dict[str, Any]:
        return dict(
            q=q,
            img=img,
            choices=None,
            answer=ans,
            qt="free_form",
            at=at,
            task=task,
            skills=skills,
            unit=unit,
            precision=prec,
        )

    return [
        mc("Which bar is the tallest?", chart, labels, top, FQA, ["statistical reasoning"]),
        mc(
            "What colour is the circle?",
            shapes_image([("circle", "blue")], seed=1),
            ["red", "blue", "green"],
            "blue",
            VQA,
            ["numeric commonsense"],
        ),
        mc(
            f"A square has side {side}. What is its area?",
            text_image([f"side = {side}"]),
            [str(side * 4), str(side * side), str(side + 4), str(2 * side)],
            str(side * side),
            GPS,
            ["geometry reasoning", "algebraic reasoning"],
        ),
        mc(
            "Is the statement in the image true?",
            text_image(["2 + 2 = 4"]),
            ["Yes", "No"],
            "Yes",
            TQA,
            ["logical reasoning"],
        ),
        ff(
            "How many circles are there?",
            shapes_image([("circle", "red")] * n, seed=2),
            str(n),
            "integer",
            VQA,
            ["arithmetic reasoning"],
        ),
        ff(
            "What is the value of the tallest bar?",
            chart,
            str(max(vals)),
            "integer",
            FQA,
            ["statistical reasoning"],
        ),
        ff(
            f"What is the perimeter of the square with side {side}?",
            text_image([f"side = {side} cm"]),
            str(4 * side),
            "integer",
            GPS,
            ["geometry reasoning"],
            unit="cm",
        ),
        ff(
            "What is the sum of all bars?",
            chart,
            str(sum(vals)),
            "integer",
            FQA,
            ["arithmetic reasoning"],
        ),
        ff(
            "What is the mean of the first two bars?",
            chart,
            str(round((vals[0] + vals[1]) / 2, 1)),
            "float",
            FQA,
            ["statistical reasoning"],
            prec=1.0,
        ),
        ff(
            "What is the ratio of the first bar to 4?",
            chart,
            str(round(vals[0] / 4, 1)),
            "float",
            FQA,
            ["arithmetic reasoning"],
            prec=1.0,
        ),
        ff(
            f"One pen costs ${price}. How much do {qty} pens cost?",
            text_image([f"pen ${price}"]),
            str(round(price * qty, 2)),
            "float",
            MWP,
            ["arithmetic reasoning"],
            unit="$",
            prec=2.0,
        ),
        ff(
            "What is one quarter of the second bar?",
            chart,
            str(round(vals[1] / 4, 2)),
            "float",
            FQA,
            ["arithmetic reasoning", "algebraic reasoning"],
            prec=2.0,
        ),
        ff(
            "Which two bars are the shortest? Give their values in increasing order.",
            chart,
            str(sorted(vals)[:2]),
            "list",
            FQA,
            ["statistical reasoning"],
        ),
        ff(
            "List the numbers written in the image.",
            text_image(["3   7   11"]),
            "[3, 7, 11]",
            "list",
            TQA,
            ["scientific reasoning"],
        ),
        ff(
            "How many sides does a triangle have?",
            shapes_image([("triangle", "green")], seed=3),
            "3",
            "integer",
            MWP,
            ["numeric commonsense", "geometry reasoning"],
        ),
    ]


def rows(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i, p in enumerate(_problems(rng), 1):
        img = png_bytes(p["img"])
        out.append(
            {
                "pid": str(i),
                "question": p["q"],
                "image": f"images/{i}.png",
                "decoded_image": img,
                "choices": p["choices"],
                "unit": p.get("unit"),
                "precision": p.get("precision"),
                "answer": p["answer"],
                "question_type": p["qt"],
                "answer_type": p["at"],
                "metadata": {
                    "category": "math-targeted-vqa",
                    "context": "synthetic scene",
                    "grade": "high school",
                    "img_height": p["img"].height,
                    "img_width": p["img"].width,
                    "language": "english",
                    "skills": p["skills"],
                    "source": "unit-harness demo",
                    "split": "testmini",
                    "task": p["task"],
                },
                "query": p["q"],
            }
        )
    return out


def features() -> Features:
    """The hub schema's ``datasets.Features``."""
    from datasets import Features, Image, List, Value

    meta = {
        "category": Value("string"),
        "context": Value("string"),
        "grade": Value("string"),
        "img_height": Value("int64"),
        "img_width": Value("int64"),
        "language": Value("string"),
        "skills": List(Value("string")),
        "source": Value("string"),
        "split": Value("string"),
        "task": Value("string"),
    }
    return Features(
        {
            "pid": Value("string"),
            "question": Value("string"),
            "image": Value("string"),
            "decoded_image": Image(),
            "choices": List(Value("string")),
            "unit": Value("string"),
            "precision": Value("float64"),
            "answer": Value("string"),
            "question_type": Value("string"),
            "answer_type": Value("string"),
            "metadata": meta,
            "query": Value("string"),
        }
    )


def build(folder: Path, seed: int = 0) -> None:
    write_hub_dataset(folder, {"default": {"testmini": rows(seed)}}, features())
