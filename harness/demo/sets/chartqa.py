"""Synthetic bar charts in lmms-lab/ChartQA's schema (default config, split test): human and
augmented questions with the answer kinds relaxed accuracy distinguishes (numbers within 5 %,
percentages, a zero target, text answers)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.demo.draw import bar_chart
from harness.demo.hub import png_bytes, write_hub_dataset

LABELS = ["Asia", "Europe", "Africa", "Oceania", "Americas", "Arctic"]


def chart(rng: random.Random, k: int) -> tuple[list[str], list[float], str]:
    labels = rng.sample(LABELS, 4)
    values = [float(rng.randint(1, 90)) for _ in labels]
    if k % 4 == 3:
        values[rng.randrange(4)] = 0.0  # a zero target: scored by string match
    if k % 4 == 1:
        values = [v + 0.5 for v in values]
    unit = "%" if k % 4 == 2 else ""
    return labels, values, unit


def qas(
    labels: list[str], values: list[float], unit: str, rng: random.Random
) -> list[tuple[str, str, str]]:
    """(type, question, answer) for one chart: one human, one augmented, one of either."""
    i, j = rng.sample(range(len(labels)), 2)
    top = labels[max(range(len(values)), key=values.__getitem__)]
    zero = next((lab for lab, v in zip(labels, values) if v == 0), None)
    value_q = (zero, "0") if zero else (labels[i], f"{values[i]:g}{unit}")
    return [
        ("human_test", "Which region has the highest value?", top),
        ("augmented_test", f"What is the value of {value_q[0]}?", value_q[1]),
        (
            rng.choice(["human_test", "augmented_test"]),
            f"Is {labels[i]} greater than {labels[j]}?",
            "Yes" if values[i] > values[j] else "No",
        ),
    ]


def rows(seed: int, n_charts: int = 10) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    human: list[dict[str, Any]] = []
    augmented: list[dict[str, Any]] = []
    for k in range(n_charts):
        labels, values, unit = chart(rng, k)
        img = png_bytes(bar_chart(labels, values, title=f"Share by region{' (%)' if unit else ''}"))
        for kind, question, answer in qas(labels, values, unit, rng):
            (human if kind == "human_test" else augmented).append(
                {"type": kind, "question": question, "answer": answer, "image": img}
            )
    return human + augmented  # the hub set lists the human split first


def build(folder: Path, seed: int = 0) -> None:
    from datasets import Features, Image, Value

    feats = Features(
        {
            "type": Value("string"),
            "question": Value("string"),
            "answer": Value("string"),
            "image": Image(),
        }
    )
    write_hub_dataset(folder, {"default": {"test": rows(seed)}}, feats)
