"""UNIT: a checkpoint written by an independent implementation of the released layout loads strictly
and gives the same (cls_tokens, spatial_tokens), at square and non-square sizes."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file
from timm.models.vision_transformer import VisionTransformer

from harness.errors import HarnessError
from harness.models.unit import UNITModel

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073])
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711])
WIDTH, DEPTH, HEADS, GRID, TOKENS = (
    48,
    2,
    3,
    16,
    8,
)  # cpe_max_size 224 -> 16x16 table; 1 cls + 7 registers


class Reference(torch.nn.Module):
    """UNIT's forward written from encoders.md: conv patch embedding, hand-rolled bilinear
    resize."""

    def __init__(self, fc_norm: bool):
        super().__init__()
        torch.manual_seed(0)
        self.vit = VisionTransformer(
            patch_size=14,
            embed_dim=WIDTH,
            depth=DEPTH,
            num_heads=HEADS,
            num_classes=0,
            global_pool="avg" if fc_norm else "token",
        )
        self.embed = (
            torch.randn(WIDTH, 3, 14, 14) * 0.05
        )  # a conv kernel: (c, y, x) order by construction
        self.pos = torch.randn(1, GRID * GRID, WIDTH)
        self.tokens = torch.randn(TOKENS, WIDTH)

    def state_dict_released(self) -> dict[str, torch.Tensor]:
        sd = {
            "unit_model.input_conditioner.norm_mean": MEAN.view(3, 1, 1),
            "unit_model.input_conditioner.norm_std": STD.view(3, 1, 1),
            "unit_model.model.patch_generator.embedder.weight": self.embed.reshape(WIDTH, -1),
            "unit_model.model.patch_generator.pos_embed": self.pos,
            "unit_model.model.patch_generator.cls_token.token": self.tokens,
        }
        for name, t in self.vit.state_dict().items():
            if name.startswith(("blocks.", "norm.", "fc_norm.")):
                sd[f"unit_model.model.{name}"] = t
        return {k: v.contiguous() for k, v in sd.items()}

    @staticmethod
    def bilinear(table: torch.Tensor, side: int) -> torch.Tensor:
        """(G, G, C) -> (side, side, C), align_corners=True, rows then columns."""
        g = table.shape[0]
        src = torch.arange(side, dtype=torch.float64) * (g - 1) / (side - 1)
        i0 = src.floor().long().clamp(max=g - 1)
        i1 = (i0 + 1).clamp(max=g - 1)
        w = (src - i0).float()[:, None, None]
        rows = table[i0] * (1 - w) + table[i1] * w
        w = w.view(1, side, 1)
        return rows[:, i0] * (1 - w) + rows[:, i1] * w

    def forward(self, x: torch.Tensor):
        x = (x - MEAN.view(1, 3, 1, 1)) / STD.view(1, 3, 1, 1)
        patches = torch.nn.functional.conv2d(x, self.embed, stride=14)  # B, C, gh, gw
        gh, gw = patches.shape[-2:]
        pos = self.bilinear(self.pos.view(GRID, GRID, WIDTH), max(gh, gw))[:gh, :gw]
        tokens = patches.flatten(2).transpose(1, 2) + pos.reshape(1, gh * gw, WIDTH)
        x = torch.cat([self.tokens.expand(x.shape[0], -1, -1), tokens], dim=1)
        x = self.vit.norm(self.vit.blocks(x))
        return x[:, 0], x[:, TOKENS:]


def _args(**extra):
    return {
        "model": "vit_huge_patch14_224",
        "model_kwargs": {
            "embed_dim": WIDTH,
            "depth": DEPTH,
            "num_heads": HEADS,
            "weight_init": "skip",
        },
        "num_classes": None,
        "gp": None,
        "drop": 0.0,
        "drop_path": None,
        "cpe_max_size": 224,
        "num_cls_tokens": 1,
        "register_multiple": 8,
        **extra,
    }


def _write(folder, sd, args, fmt="safetensors"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(
        json.dumps({"architectures": ["UNITModel"], "args": args, "version": "v1"})
    )
    if fmt == "safetensors":
        save_file(sd, str(folder / "model.safetensors"))
    else:
        torch.save(sd, folder / "pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def ref600():
    return Reference(fc_norm=False).eval()


@pytest.mark.parametrize("fmt", ["safetensors", "bin"])
def test_matches_reference_square_and_non_square(ref600, tmp_path, fmt):
    model = UNITModel.from_pretrained(
        _write(tmp_path / "unit", ref600.state_dict_released(), _args(), fmt)
    )
    assert model.num_registers == 7 and model.num_prefix_tokens == 8
    for h, w in ((448, 448), (336, 448)):
        x = torch.rand(2, 3, h, w, generator=torch.Generator().manual_seed(h))
        with torch.no_grad():
            cls_ours, sp_ours = model(x)
            cls_ref, sp_ref = ref600(x)
        assert sp_ours.shape == (2, (h // 14) * (w // 14), WIDTH) and cls_ours.shape == (2, WIDTH)
        torch.testing.assert_close(cls_ours, cls_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(sp_ours, sp_ref, atol=1e-5, rtol=1e-5)


def test_fc_norm_variant_has_identity_final_norm(tmp_path):
    ref = Reference(fc_norm=True).eval()
    sd = ref.state_dict_released()
    assert "unit_model.model.fc_norm.weight" in sd and "unit_model.model.norm.weight" not in sd
    # an unregistered timm name (like the release's 1B variant): size word + patch, depth from the
    # weights
    args = _args(model="vit_huge_patch14_224_1b", gp="avg")
    args["model_kwargs"].pop("depth")
    model = UNITModel.from_pretrained(_write(tmp_path / "unit1b", sd, args))
    assert isinstance(model.unit_model.model.norm, torch.nn.Identity) and model.depth == DEPTH
    x = torch.rand(1, 3, 224, 308)
    with torch.no_grad():
        torch.testing.assert_close(model(x)[1], ref(x)[1], atol=1e-5, rtol=1e-5)


def test_key_errors_name_the_keys(ref600, tmp_path):
    sd = ref600.state_dict_released()
    missing = {k: v for k, v in sd.items() if k != "unit_model.model.blocks.1.attn.proj.bias"}
    with pytest.raises(
        HarnessError, match=r"missing keys unit_model\.model\.blocks\.1\.attn\.proj\.bias"
    ):
        UNITModel.from_pretrained(_write(tmp_path / "a", missing, _args()))
    extra = dict(sd, **{"unit_model.model.head.weight": torch.zeros(2, WIDTH)})
    with pytest.raises(HarnessError, match=r"unexpected keys unit_model\.model\.head\.weight"):
        UNITModel.from_pretrained(_write(tmp_path / "b", extra, _args()))
    shaped = dict(sd, **{"unit_model.model.patch_generator.pos_embed": torch.zeros(1, 100, WIDTH)})
    with pytest.raises(
        HarnessError,
        match=r"mis-shaped keys unit_model\.model\.patch_generator\.pos_embed "
        r"\(checkpoint \[1, 100, 48\], model \[1, 256, 48\]\)",
    ):
        UNITModel.from_pretrained(_write(tmp_path / "c", shaped, _args()))


def test_bad_inputs_and_configs(ref600, tmp_path):
    model = UNITModel.from_pretrained(_write(tmp_path / "u", ref600.state_dict_released(), _args()))
    with pytest.raises(HarnessError, match="not a multiple of the patch size 14"):
        model(torch.rand(1, 3, 224, 230))
    with pytest.raises(HarnessError, match="config.json not found"):
        UNITModel.from_pretrained(tmp_path / "nothing")
    (tmp_path / "noargs").mkdir()
    (tmp_path / "noargs" / "config.json").write_text("{}")
    with pytest.raises(HarnessError, match="no 'args'"):
        UNITModel.from_pretrained(tmp_path / "noargs")
    with pytest.raises(HarnessError, match="unknown timm model 'convnext_x'"):
        UNITModel(_args(model="convnext_x"))


def test_bf16_weights_keep_fp32_patch_embedding(ref600, tmp_path):
    model = UNITModel.from_pretrained(
        _write(tmp_path / "u", ref600.state_dict_released(), _args()), dtype=torch.bfloat16
    )
    x = torch.rand(1, 3, 224, 224)
    gen = model.unit_model.model.patch_generator
    with torch.no_grad():
        tokens = gen(model.unit_model.input_conditioner(x), torch.bfloat16)
        exact = torch.nn.functional.conv2d(
            (x - MEAN.view(1, 3, 1, 1)) / STD.view(1, 3, 1, 1),
            gen.embedder.weight.float().view(WIDTH, 3, 14, 14),
            stride=14,
        )
    assert tokens.dtype == torch.bfloat16
    expected = exact.flatten(2).transpose(1, 2) + gen.pos_embed.float()
    torch.testing.assert_close(tokens[:, TOKENS:].float(), expected, atol=2e-2, rtol=1e-2)
    assert model(x)[1].dtype == torch.bfloat16
