"""A non-editable install must carry the configs and both packages (a wheel is what pip installs)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_ships_configs_and_both_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in ("harness/conf/config.yaml", "harness/conf/task/docvqa.yaml", "harness/conf/task/all.yaml",
                     "harness/conf/encoder/unit_600m.yaml", "harness/conf/encoder/demo.yaml",
                     "harness/conf/model/oracle.yaml", "harness/conf/device/npu.yaml", "harness/conf/data/demo.yaml",
                     "harness/__main__.py", "tasks/docvqa.py", "tasks/demo/docvqa.py"):
        assert required in names, f"{required} missing from {wheel.name}"
    yaml_in_tree = {str(p.relative_to(ROOT)) for p in (ROOT / "harness" / "conf").rglob("*.yaml")}
    assert yaml_in_tree <= names, sorted(yaml_in_tree - names)
