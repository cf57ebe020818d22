"""Projectors from encoder width to LLM width, laid out as in the LLaVA code base.

``linear`` is one ``nn.Linear`` (keys ``weight``, ``bias``); ``mlp{N}x_gelu`` is
``Sequential(Linear, GELU, Linear, ..., Linear)`` with N Linear layers (keys ``0.*``, ``2.*``, ...).
For UNIT the MLLM puts a LayerNorm (encoder width) first: ``Sequential(LayerNorm, <projector
layers>)``, so the LayerNorm is ``mm_projector.0`` and the layers shift by one. The layout is
recognised from the weights alone (a 1-D ``0.weight`` is the LayerNorm).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

from harness.errors import HarnessError

_MLP = re.compile(r"^mlp(\d+)x_gelu$")


def projector_types() -> str:
    return "linear, mlp<N>x_gelu (e.g. mlp2x_gelu), identity"


def _layers(ptype: str, in_dim: int, out_dim: int) -> list[nn.Module]:
    if ptype == "linear":
        return [nn.Linear(in_dim, out_dim)]
    if ptype == "identity":
        return []
    m = _MLP.match(ptype)
    if not m or int(m.group(1)) < 1:
        raise HarnessError(f"unknown projector type {ptype!r}; valid: {projector_types()}")
    layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
    for _ in range(int(m.group(1)) - 1):
        layers += [nn.GELU(), nn.Linear(out_dim, out_dim)]
    return layers


def build_projector(
    ptype: str, in_dim: int, out_dim: int, layernorm: bool = False, eps: float = 1e-5
) -> nn.Module:
    """The projector module (random init) with LLaVA's key layout.

    >>> sorted(build_projector("mlp2x_gelu", 8, 4).state_dict())
    ['0.bias', '0.weight', '2.bias', '2.weight']
    >>> sorted(build_projector("linear", 8, 4, layernorm=True).state_dict())
    ['0.bias', '0.weight', '1.bias', '1.weight']
    """
    layers = _layers(ptype, in_dim, out_dim)
    if layernorm:
        return nn.Sequential(nn.LayerNorm(in_dim, eps=eps), *layers)
    if ptype == "identity":
        return nn.Identity()
    return layers[0] if ptype == "linear" else nn.Sequential(*layers)


def infer_projector(sd: Mapping[str, torch.Tensor]) -> tuple[str, bool, int, int]:
    """(type, has_layernorm, in_dim, out_dim) from projector weights (keys without the
    ``mm_projector.`` prefix).

    >>> infer_projector(build_projector("mlp2x_gelu", 8, 4, layernorm=True).state_dict())
    ('mlp2x_gelu', True, 8, 4)
    """
    if not sd:
        raise HarnessError("projector weights are empty")
    if "weight" in sd:
        w = sd["weight"]
        return "linear", False, w.shape[1], w.shape[0]
    idx = sorted({int(k.split(".")[0]) for k in sd if k.split(".")[0].isdigit()})
    if not idx:
        raise HarnessError(f"projector weights have an unknown layout: {sorted(sd)[:4]}")
    has_ln = sd[f"{idx[0]}.weight"].ndim == 1
    linears = [i for i in idx if sd[f"{i}.weight"].ndim == 2]
    if not linears:
        raise HarnessError("projector weights hold no Linear layer")
    first, last = sd[f"{linears[0]}.weight"], sd[f"{linears[-1]}.weight"]
    ptype = "linear" if len(linears) == 1 else f"mlp{len(linears)}x_gelu"
    return ptype, has_ln, first.shape[1], last.shape[0]
