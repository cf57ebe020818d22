"""The score regression gate, run on every CI run: the demo grid with the oracle and with the
seeded demo MLLMs must reproduce the committed baselines in results/baselines/ exactly, so a
change to a metric, prompt, parser or model path that moves a score fails CI.

To accept an intended change, rerun and rewrite the baseline (see results/baselines/README.md):
    python -m harness model=oracle output_dir=runs/base-oracle
    python -m harness.regress --write-baseline runs/base-oracle --out results/baselines/oracle.json
"""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.regress import main as regress
from harness.runner import run

BASELINES = Path(__file__).resolve().parent.parent / "results" / "baselines"


@pytest.mark.parametrize("name,overrides", [("oracle", ["model=oracle"]), ("demo_mllm", [])])
def test_demo_grid_scores_match_the_committed_baseline(name, overrides, compose_cfg, tmp_path, capsys):
    out = tmp_path / name
    run(compose_cfg(f"output_dir={out}", "device=cpu", *overrides))
    capsys.readouterr()
    rc = regress(["--baseline", str(BASELINES / f"{name}.json"), "--current", str(out), "--tolerance", "0"])
    report = capsys.readouterr()
    assert rc == 0, report.out + report.err
