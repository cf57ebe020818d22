"""The regression gate, run on every CI run: the demo grid with the oracle and with the demo
MLLMs (fit to the demo sets when first built, seeded and deterministic) must reproduce the
committed baselines in results/baselines/ exactly, scores and every sample's prediction, so a
change to a metric, prompt, parser or model path that moves a score or an answer fails CI.

To accept an intended change, rerun and rewrite the baseline (see results/baselines/README.md):
    python -m harness model=oracle output_dir=runs/base-oracle
    python -m harness.regress --write-baseline runs/base-oracle --out results/baselines/oracle.json
    python -m harness output_dir=runs/base-demo
    python -m harness.regress --write-baseline runs/base-demo --out results/baselines/demo_mllm.json
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.regress import main as regress
from harness.runner import run

BASELINES = Path(__file__).resolve().parent.parent / "results" / "baselines"


@pytest.mark.parametrize("name,overrides", [("oracle", ["model=oracle"]), ("demo_mllm", [])])
def test_demo_grid_scores_match_the_committed_baseline(
    name, overrides, compose_cfg, tmp_path, capsys
):
    out = tmp_path / name
    run(compose_cfg(f"output_dir={out}", "device=cpu", *overrides))
    capsys.readouterr()
    rc = regress(
        ["--baseline", str(BASELINES / f"{name}.json"), "--current", str(out), "--tolerance", "0"]
    )
    report = capsys.readouterr()
    assert rc == 0, report.out + report.err
    assert "predictions identical in" in report.out  # the baseline keeps prediction digests


def test_the_demo_mllm_baseline_is_not_mostly_zeros():
    """The demo models answer: a gate over all-zero scores could not see a broken model path."""
    import json

    runs = json.loads((BASELINES / "demo_mllm.json").read_text())["runs"]
    values = [t["value"] for r in runs.values() for t in r["tasks"].values()]
    assert len(values) == 40 and sum(v > 0 for v in values) >= 20, values
