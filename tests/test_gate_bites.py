"""The regression gate bites on the model path: with the demo MLLM fit to the demo sets, a
changed chat template, a changed image normalisation or an off-by-one feature layer changes the
demo's predictions, and ``harness.regress`` fails naming the tasks; the unbroken rerun passes.

Each breakage is injected in the harness's own code (monkeypatch) after the demo checkpoint was
built, as a bad commit would meet a cached checkpoint; one encoder, a few samples per task.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness.regress import main as regress
from harness.runner import run

SETTINGS = ("encoder=demo_clip_l", "device=cpu", "limit=4")


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """(run the demo with some overrides into a new folder, the baseline of the unbroken run)."""
    from hydra import compose, initialize_config_dir

    from harness.config import conf_dir

    root = tmp_path_factory.mktemp("gate")

    def demo(name: str) -> Path:
        out = root / name
        with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
            cfg = compose(
                config_name="config",
                overrides=[*SETTINGS, f"output_dir={out}"],
                return_hydra_config=True,
            )
        run(cfg)
        return out

    baseline = root / "baseline.json"
    assert (
        regress(
            ["--write-baseline", str(demo("base")), "--out", str(baseline), "--n-resamples", "10"]
        )
        == 0
    )
    return demo, baseline


def _check(gate, name, capsys) -> tuple[int, str, dict]:
    demo, baseline = gate
    current = demo(name)
    capsys.readouterr()
    code = regress(["--baseline", str(baseline), "--current", str(current), "--tolerance", "0"])
    out = capsys.readouterr().out
    base = json.loads(baseline.read_text())["runs"]["demo_clip_l"]["tasks"]
    return code, out, base


def test_the_fit_demo_model_answers_and_the_unbroken_rerun_passes(gate, capsys):
    code, out, base = _check(gate, "again", capsys)
    assert code == 0, out
    assert "predictions identical in 10 task(s)" in out
    # the fit model gets real answers right: most tasks score above zero
    assert sum(entry["value"] > 0 for entry in base.values()) >= 5, base


def _assert_bites(code: int, out: str) -> None:
    assert code in (1, 3), out
    assert "PREDICTIONS CHANGED in" in out
    changed = [ln.split() for ln in out.splitlines() if ln.startswith("demo_clip_l")]
    assert changed and all(int(row[-2]) > 0 for row in changed if row[-2].isdigit()), out


def test_a_changed_chat_template_fails_the_gate(gate, capsys, monkeypatch):
    from harness.models import templates

    vicuna = templates.TEMPLATES["vicuna_v1"]  # the system prompt dropped
    monkeypatch.setitem(
        templates.TEMPLATES, "vicuna_v1", dataclasses.replace(vicuna, prefix="USER: ")
    )
    _assert_bites(*_check(gate, "template", capsys)[:2])


def test_a_changed_image_normalisation_fails_the_gate(gate, capsys, monkeypatch):
    from harness.models.imageproc import ImageProcessing

    real = ImageProcessing.from_dict.__func__

    def siglip_stats(cls, d, where="preprocessor_config.json"):  # CLIP read with SigLIP's mean/std
        return dataclasses.replace(real(cls, d, where), image_mean=(0.5,) * 3, image_std=(0.5,) * 3)

    monkeypatch.setattr(ImageProcessing, "from_dict", classmethod(siglip_stats))
    _assert_bites(*_check(gate, "normalisation", capsys)[:2])


def test_an_off_by_one_feature_layer_fails_the_gate(gate, capsys, monkeypatch):
    from harness.models.encoders import HFVisionEncoder

    real = HFVisionEncoder.__init__

    def shifted(self, model, arch, select_layer, *args, **kwargs):  # -2 read as -3
        real(self, model, arch, select_layer - 1, *args, **kwargs)

    monkeypatch.setattr(HFVisionEncoder, "__init__", shifted)
    _assert_bites(*_check(gate, "select_layer", capsys)[:2])


def test_a_demo_checkpoint_rebuilds_to_the_same_bytes(cache_dir, tmp_path):
    """Fitting is seeded and deterministic: two builds in two caches give identical files
    (a few fit steps here; the committed baselines check the full fit on every CI run)."""
    import hashlib

    from harness.config import load_group
    from harness.demo.data import ensure_demo_data
    from harness.demo.models import ensure_demo_checkpoint
    from harness.tasks import task_names

    shared = cache_dir / "demo" / "data"
    for name in task_names():
        ensure_demo_data(name, shared)
    enc = load_group("encoder", "demo_unit_600m")
    prints = []
    for copy in ("a", "b"):
        (tmp_path / copy / "demo").mkdir(parents=True)
        (tmp_path / copy / "demo" / "data").symlink_to(shared)
        folder = ensure_demo_checkpoint(enc, tmp_path / copy, fit_steps=3).parent
        prints.append(
            {
                str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted(folder.rglob("*"))
                if p.is_file()
            }
        )
    assert prints[0] == prints[1]
    assert "mllm/model.safetensors" in prints[0] and "encoder/config.json" in prints[0]
