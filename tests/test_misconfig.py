"""The mis-configuration corpus: every setting a user writes is applied as written (asserted
from meta.json) or refused with one line naming the key or file, exit code 2, and nothing
written that a later resume could mistake for results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.demo.data import ensure_demo_data

ORACLE = ("model=oracle", "device=cpu")


def _refused(cli, tmp_path, *args, needle: str):
    out = tmp_path / "out"
    code, _, err = cli(f"output_dir={out}", *args)
    assert code == 2, (code, err)
    assert needle in err, err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (out / "predictions").exists() and not (out / "scores.json").exists()
    return err


def _demo(task: str, cache_dir: Path) -> Path:
    return ensure_demo_data(task, cache_dir / "demo" / "data")


def _write_llava_config(folder: Path, tower: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "architectures": ["LlavaLlamaForCausalLM"],
                "model_type": "llava_llama",
                "mm_vision_tower": tower,
                "mm_projector_type": "mlp2x_gelu",
                "mm_vision_select_layer": -2,
                "hidden_size": 64,
            }
        )
    )
    return folder


# ---- unknown keys and wrong types: everywhere, grids and task=all included --------------------
@pytest.mark.parametrize(
    "args,needle",
    [
        (("task=docvqa", "task.dataset.spilt=val"), "did you mean 'task.dataset.split'"),
        (("task=docvqa", "batchsize=4"), "did you mean 'batch_size'"),
        (("encoder=clip_l", "encoder.select_layr=-3"), "did you mean 'encoder.select_layer'"),
        (("encoder=paper", "encoder.select_layr=-3"), "did you mean 'encoder.select_layer'"),
        (("task=all", "task.dataset.spilt=val"), "did you mean 'task.dataset.split'"),
        (("task=all", "+task.protocl=llava"), "did you mean 'task.protocol'"),
        (("task=docvqaa",), "did you mean 'docvqa'"),
        (("model=orcale",), "did you mean 'oracle'"),
        (("encoder=unit600m",), "did you mean 'unit_600m'"),
        (("task=docvqa", "batch_size=abc"), "batch_size='abc'"),
        (("task=docvqa", "limit=-1"), "limit=-1"),
        (("task=docvqa", "seed=abc"), "seed='abc'"),
        (("task=docvqa", "share_images=maybe"), "share_images='maybe'"),
        (("task=docvqa", "task.max_new_tokens=0"), "task.max_new_tokens=0"),
        (("task=all", "task.overrides.docvq.dataset.path=/x"), "did you mean 'docvqa'"),
        (
            ("task=all", "task.overrides.docvqa.dataset.pth=/x"),
            "task.overrides.docvqa.dataset.path",
        ),
        (("task=docvqa", "task.overrides.gqa.dataset.split=x"), "task.overrides.gqa"),
        (("task=docvqa", "model.chekpoint=/x"), "did you mean 'model.checkpoint'"),
        (("task=docvqa", "encoder=demo_clip_l,demo_siglip"), "sweep"),
    ],
)
def test_unknown_keys_and_wrong_types_are_one_line_errors(cli, tmp_path, args, needle):
    _refused(cli, tmp_path, *ORACLE[1:], *args, needle=needle)


# ---- settings that could not take effect as written ------------------------------------------
def test_explicit_dataset_path_under_data_demo_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "data=demo",
        f"task.dataset.path={tmp_path}",
        needle="data=demo",
    )


def test_explicit_dataset_path_under_data_local_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "data=local",
        f"data.root={tmp_path}",
        f"task.dataset.path={tmp_path}",
        needle="data=local",
    )


def test_model_key_the_model_does_not_read_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "model.checkpoint=/ckpts/x",
        needle="model.checkpoint is not used by model=oracle",
    )


def test_encoder_key_without_effect_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "encoder=paper",
        "encoder.select_layer=-3",
        needle="encoder.select_layer has no effect with model=oracle",
    )


def test_checkpoint_with_a_demo_encoder_is_refused(cli, tmp_path):
    ckpt = _write_llava_config(tmp_path / "ckpt", "openai/clip-vit-large-patch14-336")
    _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        "encoder=demo_clip_l",
        f"model.checkpoint={ckpt}",
        needle="demo encoder",
    )


def test_checkpoint_tower_and_encoder_mismatch_names_both(cli, tmp_path):
    ckpt = _write_llava_config(tmp_path / "ckpt", "openai/clip-vit-large-patch14-336")
    err = _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        "encoder=siglip",
        f"model.checkpoint={ckpt}",
        needle="clip_l",
    )
    assert "encoder=siglip" in err


def test_checkpoint_folder_that_does_not_exist_names_it(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        f"model.checkpoint={tmp_path}/nope",
        needle=f"{tmp_path}/nope",
    )


def test_checkpoint_placeholder_without_a_grid_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        "model.checkpoint=/c/llava-%encoder%",
        needle="%encoder%",
    )


def test_dataset_path_that_does_not_exist_names_it(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        f"task.dataset.path={tmp_path}/nope",
        needle=f"{tmp_path}/nope",
    )


def test_empty_dataset_folder_names_it(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        f"task.dataset.path={tmp_path}/empty",
        needle=f"{tmp_path}/empty",
    )


def test_folder_of_another_benchmark_is_refused(cli, tmp_path, cache_dir):
    gqa = _demo("gqa", cache_dir)
    _refused(cli, tmp_path, *ORACLE, "task=docvqa", f"task.dataset.path={gqa}", needle="DocVQA")


def test_run_wide_protocol_a_task_lacks_is_refused(cli, tmp_path):
    _refused(cli, tmp_path, *ORACLE, "task=all", "protocol=llava", needle="protocol=llava")


def test_run_wide_and_task_protocol_together_are_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "protocol=paper",
        "task.protocol=lmms-eval",
        needle="both given",
    )


def test_unknown_task_protocol_is_refused(cli, tmp_path):
    _refused(
        cli, tmp_path, *ORACLE, "task=docvqa", "task.protocol=bogus", needle="task.protocol=bogus"
    )


def test_local_data_without_root_is_refused(cli, tmp_path):
    _refused(cli, tmp_path, *ORACLE, "task=docvqa", "data=local", needle="data.root")


def test_replay_file_that_does_not_exist_names_it(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        "model=replay",
        "data=demo",
        f"model.predictions={tmp_path}/none.jsonl",
        needle=f"{tmp_path}/none.jsonl",
    )


# ---- settings applied exactly as written ----------------------------------------------------
def _meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def _scores(run_dir: Path) -> dict:
    return json.loads((run_dir / "scores.json").read_text())


def test_dataset_path_without_data_is_evaluated_not_the_demo(cli, tmp_path, cache_dir):
    mine = tmp_path / "MyDocVQA"
    shutil.copytree(_demo("docvqa", cache_dir), mine)
    code, _, err = cli(
        *ORACLE,
        "task=docvqa",
        f"task.dataset.path={mine}",
        "limit=4",
        f"output_dir={tmp_path / 'out'}",
    )
    assert code == 0, err
    meta = _meta(tmp_path / "out")
    assert meta["datasets"]["docvqa"]["path"] == str(mine) and meta["data_source"] == "hub"
    assert f"task.dataset.path={mine}" in meta["overrides"]


def test_task_all_override_reaches_every_task(cli, tmp_path):
    code, _, err = cli(
        *ORACLE, "task=all", "task.max_new_tokens=7", "limit=1", f"output_dir={tmp_path / 'out'}"
    )
    assert code == 0, err
    tasks = _meta(tmp_path / "out")["config"]["tasks"]
    assert len(tasks) == 10 and {t["max_new_tokens"] for t in tasks.values()} == {7}


def test_per_task_override_reaches_only_its_task(cli, tmp_path, cache_dir):
    mine = tmp_path / "MyDocVQA"
    shutil.copytree(_demo("docvqa", cache_dir), mine)
    code, _, err = cli(
        *ORACLE,
        "task=all",
        "data=demo",
        "task.overrides.mme.protocol=lmms-eval",
        "protocol=paper",
        "limit=1",
        f"output_dir={tmp_path / 'out'}",
    )
    assert code == 0, err
    scores = _scores(tmp_path / "out")
    assert scores["mme"]["protocol"] == "lmms-eval"
    assert {s["protocol"] for k, s in scores.items() if k != "mme"} == {"lmms-eval-0.2"}


def test_grid_override_reaches_every_encoder(compose_cfg, tmp_path):
    """Resolution only (building four demo models for another layer costs a minute of
    training); that the model then uses the value is the checkpoint tests' job below."""
    from harness.runner import job_config, prepare

    cfg, jobs, _ = prepare(
        compose_cfg(
            "task=docvqa",
            "encoder=demo",
            "encoder.select_layer=-3",
            "device=cpu",
            f"output_dir={tmp_path}",
        )
    )
    assert [e.name for e in jobs.encoders] == [
        "demo_clip_l",
        "demo_siglip",
        "demo_unit_600m",
        "demo_unit_1b",
    ]
    for enc in jobs.encoders:
        saved = job_config(cfg, jobs, enc, tmp_path / str(enc.name))
        assert saved.encoder.select_layer == -3 and saved.encoder.demo, enc.name


def test_saved_config_alone_reruns_the_job(cli, tmp_path, cache_dir):
    first = tmp_path / "first"
    code, _, err = cli(*ORACLE, "task=all", "limit=2", "protocol=paper", f"output_dir={first}")
    assert code == 0, err
    again = tmp_path / "again"
    shutil.copytree(first, again)
    shutil.rmtree(again / "predictions")
    (again / "scores.json").unlink()
    code, _, err = cli(
        "--config-path", str(again), "--config-name", "config", f"output_dir={again}"
    )
    assert code == 0, err
    old, new = _scores(first), _scores(again)
    assert {k: (v["value"], v["n"], v["protocol"]) for k, v in old.items()} == {
        k: (v["value"], v["n"], v["protocol"]) for k, v in new.items()
    }


def test_judge_key_on_a_task_without_a_judge_is_refused(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        *ORACLE,
        "task=docvqa",
        "task.judge.url=http://127.0.0.1:9/v1",
        needle="task docvqa has no judge",
    )


def _demo_checkpoint(cache_dir: Path, tmp_path: Path) -> Path:
    """The default demo CLIP-L MLLM (the session's cached build), copied: a LLaVA code-base
    folder whose mm_vision_tower is ../encoder."""
    from harness.config import load_group
    from harness.demo.models import ensure_demo_checkpoint

    built = ensure_demo_checkpoint(load_group("encoder", "demo_clip_l"), cache_dir)
    shutil.copytree(built.parent, tmp_path / "copy")
    return tmp_path / "copy" / built.name


def test_checkpoint_alone_infers_its_encoder_and_is_loaded(cli, tmp_path, cache_dir):
    ckpt = _demo_checkpoint(cache_dir, tmp_path)
    out = tmp_path / "out"
    code, _, err = cli(
        "device=cpu",
        "task=docvqa",
        f"model.checkpoint={ckpt}",
        "data=demo",
        "limit=2",
        f"output_dir={out}",
    )
    assert code == 0, err
    meta = _meta(out)
    assert meta["encoder"]["name"] == "demo_clip_l" and meta["encoder"]["demo"] is False
    assert meta["model"]["paths"]["checkpoint"] == str(ckpt)
    assert meta["model"]["encoder"]["select_layer"] == -2  # the checkpoint's own setting


def test_explicit_encoder_setting_wins_over_the_checkpoint(cli, tmp_path, cache_dir):
    ckpt = _demo_checkpoint(cache_dir, tmp_path)
    out = tmp_path / "out"
    code, _, err = cli(
        "device=cpu",
        "task=docvqa",
        f"model.checkpoint={ckpt}",
        "data=demo",
        "encoder.select_layer=-3",
        "limit=2",
        f"output_dir={out}",
    )
    assert code == 0, err
    meta = _meta(out)
    assert meta["model"]["encoder"]["select_layer"] == -3
    assert "encoder.select_layer=-3" in meta["overrides"]


def test_real_encoder_without_a_checkpoint_is_refused_before_work(cli, tmp_path):
    _refused(
        cli,
        tmp_path,
        "device=cpu",
        "task=docvqa",
        "encoder=paper",
        "encoder.select_layer=-3",
        needle="needs model.checkpoint",
    )


def test_share_images_false_is_what_meta_json_records(cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = cli(
        "device=cpu",
        "task=docvqa",
        "encoder=demo_clip_l",
        "data=demo",
        "share_images=false",
        "limit=2",
        f"output_dir={out}",
    )
    assert code == 0, err
    meta = _meta(out)
    assert meta["model"]["share_images"] is False and meta["config"]["share_images"] is False
