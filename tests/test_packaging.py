"""The configs work from a checkout, an editable install and a non-editable wheel install; a user's
own config folder (``--config-dir``) adds encoders and grids without touching the package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ("task=docvqa", "model=oracle", "device=cpu", "limit=2")


def _py(python: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [python, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def _conf_dir(python: str, cwd: Path, env: dict | None = None) -> Path:
    res = _py(
        python, "-c", "from harness.config import conf_dir; print(conf_dir())", cwd=cwd, env=env
    )
    assert res.returncode == 0, res.stderr
    return Path(res.stdout.strip())


def _smoke(python: str, cwd: Path, out: Path, env: dict | None = None) -> dict:
    res = _py(python, "-m", "harness", *SMOKE, f"output_dir={out}", cwd=cwd, env=env)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads((out / "scores.json").read_text())


def _wheel(tmp_path: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(tmp_path.glob("*.whl"))


def test_wheel_ships_every_config_and_both_packages_under_the_harness_name(tmp_path):
    names = set(zipfile.ZipFile(_wheel(tmp_path)).namelist())
    in_tree = {
        "harness/conf/" + str(p.relative_to(ROOT / "conf")) for p in (ROOT / "conf").rglob("*.yaml")
    }
    assert "harness/conf/config.yaml" in in_tree and len(in_tree) > 30
    assert in_tree <= names, sorted(in_tree - names)
    assert {
        "harness/__main__.py",
        "harness/tasks/docvqa.py",
        "harness/demo/sets/docvqa.py",
    } <= names
    # tasks/ (top level in the repository) installs as harness.tasks: no top-level module that
    # could collide with another distribution's
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"harness"}, tops


def test_checkout_reads_top_level_conf(tmp_path):
    env = {"PYTHONPATH": str(ROOT)}
    assert _conf_dir(sys.executable, tmp_path, env) == ROOT / "conf"
    assert _smoke(sys.executable, tmp_path, tmp_path / "out", env)["docvqa"]["value"] == 100.0


def test_editable_install_reads_top_level_conf(tmp_path):
    """The test environment is the README's editable install (pip install -e)."""
    assert _conf_dir(sys.executable, tmp_path) == ROOT / "conf"
    assert _smoke(sys.executable, tmp_path, tmp_path / "out")["docvqa"]["value"] == 100.0


@pytest.mark.slow
def test_wheel_install_reads_its_packaged_conf(tmp_path):
    wheel = _wheel(tmp_path / "dist")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = str(env_dir / "bin" / "python")
    res = _py(
        python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel), cwd=tmp_path
    )
    assert res.returncode == 0, res.stderr
    conf = _conf_dir(python, tmp_path)
    assert env_dir in conf.parents and conf.name == "conf", conf
    res = _py(python, "-c", "import harness.tasks.docvqa as m; print(m.__file__)", cwd=tmp_path)
    assert res.returncode == 0 and env_dir in Path(res.stdout.strip()).parents, res.stderr
    assert _smoke(python, tmp_path, tmp_path / "out")["docvqa"]["value"] == 100.0


def test_user_config_dir_adds_an_encoder_and_a_grid(tmp_path):
    user = tmp_path / "myconf"
    (user / "encoder").mkdir(parents=True)
    (user / "encoder" / "my_clip.yaml").write_text(
        (ROOT / "conf" / "encoder" / "demo_clip_l.yaml")
        .read_text()
        .replace("name: demo_clip_l", "name: my_clip")
        .replace("CLIP-L (demo)", "My CLIP")
    )
    (user / "encoder" / "my_grid.yaml").write_text("name: my_grid\ngrid: [my_clip, demo_siglip]\n")
    out = tmp_path / "out"
    res = _py(
        sys.executable,
        "-m",
        "harness",
        "--config-dir",
        str(user),
        "encoder=my_grid",
        "task=docvqa",
        "device=cpu",
        "limit=2",
        "data=demo",
        f"output_dir={out}",
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    metas = {p.name: json.loads((p / "meta.json").read_text()) for p in out.iterdir() if p.is_dir()}
    assert set(metas) == {"my_clip", "demo_siglip"}
    assert metas["my_clip"]["encoder"]["label"] == "My CLIP"
    bad = _py(
        sys.executable, "-m", "harness", "--config-dir", str(user), "encoder=my_clp", cwd=tmp_path
    )
    assert bad.returncode == 2 and "did you mean 'my_clip'" in bad.stderr


def test_tasks_import_under_the_project_name_in_every_install(tmp_path):
    """tasks/ stays the repository's top-level folder; harness/tasks links to it, so a checkout,
    an editable and a wheel install all import it as harness.tasks."""
    assert (ROOT / "harness" / "tasks").resolve() == (ROOT / "tasks").resolve()
    for env in ({"PYTHONPATH": str(ROOT)}, None):
        res = _py(
            sys.executable,
            "-c",
            "import harness.tasks.docvqa as m; print(m.__file__)",
            cwd=tmp_path,
            env=env,
        )
        assert res.returncode == 0 and "tasks/docvqa.py" in res.stdout, res.stderr
