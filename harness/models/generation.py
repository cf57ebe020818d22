"""Batched greedy decoding over input embeddings, with left padding, a KV cache and stop strings.

Rows are left-padded; the attention mask hides the pads and position ids count real tokens
only, so a row's tokens do not depend on its batch (identical at batch size 1 and 16 in fp32).
A row stops at EOS, at a stop string, or at its own ``max_new_tokens``; finished rows are
dropped from the batch (and from the cache) so they do not keep it busy.

The prompt is prefilled in one call on ``inputs_embeds`` (:func:`greedy`), then
:func:`decode_loop` runs the steps. Prefix sharing (:mod:`harness.models.sharing`) prefills a
shared image prefix once, expands its cache to the rows that share it and prefills only the
suffixes before the same :func:`decode_loop`: the mask then has pads between prefix and
suffix, and :func:`positions` (counting real tokens) keeps every row's positions unchanged.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from harness.models.kvcache import Cache


@dataclass
class RowSpec:
    max_new_tokens: int
    stop: tuple[str, ...] = ()


class CausalLM:
    """A thin adapter over a transformers causal LM (any version: ``cache`` or
    ``past_key_values``)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        params = inspect.signature(model.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.keep_kw = next(
            (k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None
        )

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        # get_input_embeddings is a PreTrainedModel method; torch types an attribute of a Module
        # as a submodule or tensor lookup
        out: torch.Tensor = self.model.get_input_embeddings()(ids)  # type: ignore[operator]
        return out

    def __call__(
        self, *, cache: Cache = None, **inputs: torch.Tensor
    ) -> tuple[torch.Tensor, Cache]:
        """Last-position logits (B, V) and the new cache."""
        kwargs = dict(inputs, use_cache=True, return_dict=True)
        if cache is not None:
            kwargs[self.cache_kw] = cache
        if self.keep_kw:
            kwargs[self.keep_kw] = 1
        out = self.model(**kwargs)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = out.past_key_values
        return out.logits[:, -1], new_cache

    def full_logits(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits at every position (for tests comparing against other implementations)."""
        kwargs = {
            "inputs_embeds": inputs_embeds,
            "attention_mask": attention_mask,
            "position_ids": positions(attention_mask),
            "use_cache": False,
            "return_dict": True,
        }
        logits: torch.Tensor = self.model(**kwargs).logits
        return logits


def positions(mask: torch.Tensor) -> torch.Tensor:
    """Position ids counting real tokens only (pads get 0).

    >>> positions(torch.tensor([[0, 0, 1, 1, 1]])).tolist()
    [[0, 0, 0, 1, 2]]
    """
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (L_i, D) embeddings into (B, L, D) with left padding, and the (B, L) mask."""
    length = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros(len(rows), length, rows[0].shape[-1])
    mask = torch.zeros(len(rows), length, dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        out[i, length - r.shape[0] :] = r
        mask[i, length - r.shape[0] :] = 1
    return out, mask


def select_rows(cache: Cache, idx: torch.Tensor) -> Cache:
    """Keep only the rows ``idx`` of a KV cache (transformers Cache or legacy tuples)."""
    if hasattr(cache, "batch_select_indices"):
        cache.batch_select_indices(idx)
        return cache
    return tuple(tuple(t[idx] for t in layer) for layer in cache)


@dataclass
class Clock:
    """Adds seconds (``add``) and counts (``count``) into a model's timings dict."""

    timings: dict[str, Any]
    sync: Callable[[], None] | None = None

    def add(self, key: str, t0: float) -> float:
        if self.sync is not None:
            self.sync()
        now = time.perf_counter()
        self.timings[key] = self.timings.get(key, 0.0) + now - t0
        return now

    def count(self, key: str, n: int) -> None:
        self.timings[key] = self.timings.get(key, 0) + n


def greedy(
    lm: CausalLM,
    rows: Sequence[torch.Tensor],
    specs: Sequence[RowSpec],
    eos: set[int],
    decode: Callable[[list[int]], str],
    timings: dict[str, Any] | None = None,
    sync: Callable[[], None] | None = None,
    on_prefill: Callable[[object, torch.Tensor], None] | None = None,
) -> list[list[int]]:
    """Generated token ids per row (without the token that triggered EOS).

    ``on_prefill(cache, mask)`` is called after the prompt is prefilled (prefix sharing keeps a
    row's image prefix from it).
    """
    clock = Clock(timings if timings is not None else {}, sync)
    t0 = time.perf_counter()
    embeds, mask = left_pad(rows)
    pos = positions(mask)
    logits, cache = lm(inputs_embeds=embeds, attention_mask=mask, position_ids=pos)
    clock.count("prefill_tokens", int(mask.sum()))
    if on_prefill is not None:
        on_prefill(cache, mask)
    t0 = clock.add("prefill", t0)
    return decode_loop(lm, logits, cache, mask, pos[:, -1] + 1, specs, eos, decode, clock, t0)


def decode_loop(
    lm: CausalLM,
    logits: torch.Tensor,
    cache: Cache,
    mask: torch.Tensor,
    next_pos: torch.Tensor,
    specs: Sequence[RowSpec],
    eos: set[int],
    decode: Callable[[list[int]], str],
    clock: Clock,
    t0: float,
) -> list[list[int]]:
    """Greedy steps from the prefill's last-position ``logits`` until every row has stopped."""
    out: list[list[int]] = [[] for _ in specs]
    active = list(range(len(specs)))  # original row index of each batch row
    while True:
        tokens = logits.argmax(-1)
        keep = []
        for b, row in enumerate(active):
            tok = int(tokens[b])
            if tok in eos:
                continue
            out[row].append(tok)
            if len(out[row]) >= specs[row].max_new_tokens or _hit_stop(
                out[row], specs[row].stop, decode
            ):
                continue
            keep.append(b)
        if not keep:
            break
        if len(keep) < len(active):
            idx = torch.tensor(keep, device=mask.device)
            cache, mask, next_pos, tokens = (
                select_rows(cache, idx),
                mask[idx],
                next_pos[idx],
                tokens[idx],
            )
            active = [active[b] for b in keep]
        mask = torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
        logits, cache = lm(
            input_ids=tokens[:, None],
            attention_mask=mask,
            position_ids=next_pos[:, None],
            cache=cache,
        )
        next_pos = next_pos + 1
    clock.count("generated_tokens", sum(len(o) for o in out))
    clock.add("decode", t0)
    return out


def _hit_stop(ids: list[int], stops: tuple[str, ...], decode: Callable[[list[int]], str]) -> bool:
    if not stops:
        return False
    window = max(len(s) for s in stops) + 8  # a token is at least one character (or one byte)
    tail = decode(ids[-window:])
    return any(s in tail for s in stops)


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    """Text before the first stop string.

    >>> cut_at_stop("yes\\nUSER: no", ["\\n", "USER:"])
    'yes'
    """
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=len(text))
    return text[:cut]
