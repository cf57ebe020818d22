"""Reporting: the paper's table from run folders (``table``), per-benchmark breakdowns
(``detail``), bootstrap intervals and paired tests (``stats``, ``compare``), plots (``plot``),
the paper's own numbers (``paper``) and the regression-gate baseline format (``baseline``).

Entry points: ``python -m harness.report`` and ``python -m harness.regress``.
"""
