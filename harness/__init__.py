"""UNIT harness: evaluate vision encoders inside LLaVA-style MLLMs on the UNIT paper's ten benchmarks."""

__version__ = "0.1.0"

PAPER_TASKS = (
    "gqa", "okvqa", "chartqa", "docvqa", "infovqa",
    "ocrbench", "pope", "mme", "seed", "mathvista",
)
"""The ten benchmarks in the order of the paper's table."""
