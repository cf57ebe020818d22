"""Config groups: every option composes; unknown names fail with one line listing the valid
names."""

from __future__ import annotations

import pytest

from harness.config import GROUPS, check_argv, conf_dir, group_options, load_group
from harness.errors import HarnessError


def test_required_groups_and_options_exist():
    for group in GROUPS:
        assert (conf_dir() / group).is_dir(), group
    assert {
        "clip_l",
        "siglip",
        "unit_600m",
        "unit_1b",
        "demo_clip_l",
        "demo_siglip",
        "demo_unit_600m",
        "demo_unit_1b",
        "demo",
        "paper",
    } <= set(group_options("encoder"))
    assert {"docvqa", "all"} <= set(group_options("task"))
    assert {"mllm", "oracle", "replay"} <= set(group_options("model"))
    assert {"auto", "cpu", "cuda", "npu", "mps"} <= set(group_options("device"))
    assert {"demo", "hub", "local"} <= set(group_options("data"))


@pytest.mark.parametrize("group", GROUPS)
def test_every_option_composes(compose_cfg, group):
    for option in group_options(group):
        cfg = compose_cfg(f"{group}={option}", "output_dir=x")
        assert cfg[group] is not None


def test_real_encoder_configs_name_the_released_checkpoints():
    assert load_group("encoder", "clip_l")["path"] == "openai/clip-vit-large-patch14-336"
    assert load_group("encoder", "siglip")["path"] == "google/siglip-so400m-patch14-384"
    assert load_group("encoder", "unit_600m")["path"] == "yeeaa/UNIT_600M"
    assert load_group("encoder", "unit_1b")["path"] == "yeeaa/UNIT_1B"
    assert load_group("encoder", "clip_l")["select_layer"] == -2


def test_demo_grid_lists_four_demo_encoders_of_each_architecture():
    grid = load_group("encoder", "demo")["grid"]
    assert [load_group("encoder", g)["family"] for g in grid] == [
        "clip_l",
        "siglip",
        "unit_600m",
        "unit_1b",
    ]


@pytest.mark.parametrize(
    "arg,needle",
    [
        ("task=docvqaa", "did you mean 'docvqa'"),
        ("encoder=foo", "clip_l"),
        ("model=orcale", "oracle"),
        ("device=tpu", "npu"),
        ("data=dmo", "demo"),
    ],
)
def test_unknown_names_fail_with_one_line_listing_valid_names(arg, needle):
    with pytest.raises(HarnessError) as exc:
        check_argv([arg])
    msg = str(exc.value)
    assert "\n" not in msg and needle in msg and "valid:" in msg


def test_valid_overrides_and_plain_keys_pass():
    check_argv(
        [
            "task=docvqa",
            "encoder=unit_600m",
            "device=npu",
            "limit=3",
            "task.dataset.path=/x",
            "--help",
        ]
    )


def test_encoder_placeholder_survives_hydra_parsing_and_is_filled(compose_cfg):
    from harness.config import per_encoder

    cfg = compose_cfg("model.checkpoint=/ckpts/llava-%encoder%", "output_dir=x")
    assert per_encoder(cfg.model.checkpoint, "unit_600m") == "/ckpts/llava-unit_600m"
