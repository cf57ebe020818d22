"""Prompt pieces shared by several tasks (LLaVA-1.5 style; the image token goes first)."""

from __future__ import annotations

SHORT_ANSWER = "Answer the question using a single word or phrase."
"""The short-answer suffix (GQA, OK-VQA, DocVQA, InfoVQA, POPE, MME)."""


def short_answer_prompt(question: str) -> str:
    """The LLaVA-1.5 short-answer prompt.

    >>> short_answer_prompt("What is the date?")
    'What is the date?\\nAnswer the question using a single word or phrase.'
    """
    return f"{question}\n{SHORT_ANSWER}"
