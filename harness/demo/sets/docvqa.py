"""Synthetic DocVQA pages in lmms-lab/DocVQA's schema (config DocVQA, split validation)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.demo.draw import text_image
from harness.demo.hub import png_bytes, write_hub_dataset

NAMES = ["Alice Smith", "Bob Jones", "Carol White", "Dan Brown", "Eve Black", "Frank Green"]
CITIES = ["Paris", "Berlin", "Tokyo", "Lima", "Oslo", "Cairo"]


def rows(seed: int, n_docs: int = 8) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for d in range(n_docs):
        name, city = rng.choice(NAMES), rng.choice(CITIES)
        date = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/19{rng.randint(60, 99)}"
        total = f"${rng.randint(10, 999)}.{rng.randint(0, 99):02d}"
        page = png_bytes(
            text_image(
                [
                    f"INVOICE No. {1000 + d}",
                    f"To: {name}",
                    f"City: {city}",
                    f"Date: {date}",
                    f"Total: {total}",
                ]
            )
        )
        qas = [
            ("What is the invoice number?", [str(1000 + d), f"No. {1000 + d}"]),
            ("Who is the invoice addressed to?", [name]),
            ("What is the date on the invoice?", [date]),
            ("What is the total amount?", [total, total.lstrip("$")]),
        ]
        for q, (question, answers) in enumerate(qas):
            out.append(
                {
                    "questionId": str(50000 + 10 * d + q),
                    "question": question,
                    "answers": answers,
                    "image": page,
                    "docId": 7000 + d,
                    "question_types": ["form"],
                    "ucsf_document_id": f"demo{d:04d}",
                    "ucsf_document_page_no": "1",
                    "data_split": "val",
                }
            )
    return out


def features() -> Any:
    """The ``datasets.Features`` of lmms-lab/DocVQA's DocVQA config (the columns its task reads
    and the ones it carries along)."""
    from datasets import Features, Image, List, Value

    return Features(
        {
            "questionId": Value("string"),
            "question": Value("string"),
            "question_types": List(Value("string")),
            "image": Image(),
            "docId": Value("int64"),
            "ucsf_document_id": Value("string"),
            "ucsf_document_page_no": Value("string"),
            "answers": List(Value("string")),
            "data_split": Value("string"),
        }
    )


def build(folder: Path, seed: int = 0) -> None:
    write_hub_dataset(folder, {"DocVQA": {"validation": rows(seed)}}, features())
