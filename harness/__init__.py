"""UNIT harness: evaluate vision encoders inside LLaVA-style MLLMs on the UNIT paper's ten
benchmarks.

The paper's benchmark list lives in :mod:`harness.names` (``PAPER_TASKS``).
"""

__version__ = "0.1.0"
