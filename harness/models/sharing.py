"""Prefix sharing: the questions about one image decode from one prefill of their common prefix.

LLaVA-style prompts put the image before the question::

    [BOS, system text, "USER:", <image tokens>]  +  ["\\n", question, "ASSISTANT:"]
    `---------------- prefix (shared) --------´     `------- suffix (per row) ------´

The prefix is everything up to and including the last image slot (``Prepared.prefix_length``);
rows whose prefix token ids and image content hashes are equal form a group. Per batch:

1. each group's prefix is prefilled once (a left-padded batch of prefixes), or taken from the
   *carry*: the prefix of the previous batch's last row, kept because the engine keeps a group's
   rows together, so a group split over two batches (or run at batch size 1) is prefilled once;
2. the prefix cache is expanded to the rows (an index into its batch dimension, no recompute);
3. the suffixes are prefilled against it, left-padded: the mask hides the pads before each
   prefix and before each suffix, and positions count real tokens, so every token sees the
   same context at the same position as in the unshared prefill;
4. decoding continues exactly as unshared (:func:`~harness.models.generation.decode_loop`).

Numerically the prefix keys/values are computed over the prefix alone instead of inside the
full row; in fp32 they differ from the unshared path by float rounding at most (tests check
that predictions are identical). A batch whose rows share nothing (and miss the carry) runs
the unshared path, so one question per image costs nothing extra. Where the model's cache
cannot be split and rebuilt (:mod:`harness.models.kvcache`) sharing turns itself off with a log
line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from harness.models import kvcache as kv
from harness.models.generation import (
    CausalLM,
    Clock,
    RowSpec,
    decode_loop,
    left_pad,
    positions,
    select_rows,
)
from harness.models.prepare import Prepared

PrefixKey = tuple[tuple[int, ...], tuple[str, ...]]
"""(prefix token ids, image content hashes): rows with equal keys share one prefill."""

log = logging.getLogger(__name__)


def prefix_key(prep: Prepared) -> PrefixKey | None:
    """(prefix token ids, image content hashes), or None when the row has no image before some
    text."""
    n = prep.prefix_length()
    if n == 0 or n >= len(prep.input_ids) or len(prep.image_hashes) != prep.input_ids.count(-200):
        return None
    return tuple(prep.input_ids[:n]), tuple(prep.image_hashes)


@dataclass
class Groups:
    """Rows grouped by prefix: ``keys[g]``, the group of each row, each group's first row and prefix
    length."""

    keys: list[PrefixKey]
    of_row: list[int]
    first: list[int]
    lengths: list[int]


@dataclass
class Carry:
    key: PrefixKey
    layers: kv.Layers  # per layer (1, heads, prefix embeddings, head_dim)
    kind: type[kv.Cache]


class PrefixSharer:
    """Plans and runs shared-prefix generation for one language model; holds the carry."""

    def __init__(self, lm: CausalLM):
        self.lm = lm
        self.off: str | None = None  # why sharing is off for this model
        self.carry: Carry | None = None
        self.window: int | None = (
            None  # the model's smallest sliding window, once a cache has shown it
        )
        self._said: set[str] = set()

    def say(self, why: str) -> None:
        if why not in self._said:
            self._said.add(why)
            log.info("prefix sharing: %s", why)

    def turn_off(self, why: str) -> None:
        self.off, self.carry = why, None
        log.warning(
            "prefix sharing is off for this model (%s); every question prefills its own image "
            "tokens",
            why,
        )

    def carried(self, key: PrefixKey) -> bool:
        return self.carry is not None and self.carry.key == key

    def plan(self, batch: Sequence[Prepared]) -> Groups | None:
        """The batch's groups, or None when nothing would be shared (the unshared path runs)."""
        if self.off or not batch:
            return None
        found = [prefix_key(p) for p in batch]
        keys = [k for k in found if k is not None]
        if len(keys) < len(found):
            self.say(
                "a prompt without an image before its text (or with text after no image) runs "
                "unshared"
            )
            return None
        index: dict[PrefixKey, int] = {}
        of_row = [index.setdefault(k, len(index)) for k in keys]
        if len(index) == len(batch) and not any(self.carried(k) for k in index):
            if len({k[1] for k in keys}) < len(keys):
                self.say(
                    "questions about one image have different prefixes (the template or prompt "
                    "puts text "
                    "before the image); they run unshared"
                )
            return None
        first = [of_row.index(g) for g in range(len(index))]
        return Groups(list(index), of_row, first, [len(k[0]) for k in index])

    def refused(self, exc: kv.Unsupported) -> None:
        if exc.lasting:
            self.turn_off(f"the model is not supported: {exc}")
        else:
            self.say(f"{exc}; that batch runs unshared")

    def keeper(
        self, prep: Prepared, images: Sequence[torch.Tensor], row: int
    ) -> Callable[[kv.Cache, torch.Tensor], None] | None:
        """An ``on_prefill`` hook for the unshared path that keeps ``prep``'s prefix (batch row
        ``row``) as the carry."""
        if self.off:
            return None
        key, length = (
            prefix_key(prep),
            prep.prefix_length() - len(images) + sum(f.shape[0] for f in images),
        )
        return lambda cache, mask: self.capture(key, cache, mask, row, length)

    def capture(
        self, key: PrefixKey | None, cache: kv.Cache, mask: torch.Tensor, row: int, length: int
    ) -> None:
        """Keep ``row``'s first ``length`` positions (its prefix) from an unshared prefill as the
        carry."""
        if key is None or self.off:
            self.carry = None
            return
        try:
            layers = kv.to_layers(cache)
        except kv.Unsupported as exc:
            self.carry = None
            if exc.lasting:
                self.turn_off(f"the model is not supported: {exc}")
            return
        self.window = kv.sliding_window(cache)
        start = mask.shape[1] - int(mask[row].sum())
        self.carry = Carry(key, kv.row_slice(layers, row, start, start + length), type(cache))

    def generate(
        self,
        groups: Groups,
        prefixes: dict[int, torch.Tensor],
        suffixes: Sequence[torch.Tensor],
        specs: Sequence[RowSpec],
        eos: set[int],
        decode: Callable[[list[int]], str],
        clock: Clock,
    ) -> list[list[int]]:
        """Token ids per row. ``prefixes``: embeddings of the groups to prefill now (the others are
        carried)."""
        try:
            return self._generate(groups, prefixes, suffixes, specs, eos, decode, clock)
        except BaseException:
            # free its memory (out-of-memory retries) and never reuse a half-made state
            self.carry = None
            raise

    def _generate(
        self,
        groups: Groups,
        prefixes: dict[int, torch.Tensor],
        suffixes: Sequence[torch.Tensor],
        specs: Sequence[RowSpec],
        eos: set[int],
        decode: Callable[[list[int]], str],
        clock: Clock,
    ) -> list[list[int]]:
        t0 = time.perf_counter()
        order: list[int] = []
        lengths: dict[int, int] = {}
        parts: list[kv.Layers] = []
        cache: kv.Cache = None
        kind: type[kv.Cache] = object
        if prefixes:
            order = sorted(prefixes)
            embeds, pmask = left_pad([prefixes[g] for g in order])
            _, cache = self.lm(
                inputs_embeds=embeds, attention_mask=pmask, position_ids=positions(pmask)
            )
            clock.count("prefill_tokens", int(pmask.sum()))
            clock.count("prefixes_computed", len(order))
            kind, self.window = type(cache), kv.sliding_window(cache)
            parts.append(kv.to_layers(cache))
            lengths.update((g, int(pmask[i].sum())) for i, g in enumerate(order))
        rest = [g for g in range(len(groups.keys)) if g not in prefixes]
        if rest:  # only the carried group can be missing
            assert (
                len(rest) == 1 and self.carry is not None and self.carry.key == groups.keys[rest[0]]
            )
            parts.append(self.carry.layers)
            kind = self.carry.kind
            lengths[rest[0]] = self.carry.layers[0][0].shape[2]
            order = order + rest
        width = max(lengths.values())
        layers = (
            parts[0] if len(parts) == 1 else kv.concat_rows([kv.pad_left(p, width) for p in parts])
        )
        self._check_window(width, suffixes, specs)
        slot = {g: i for i, g in enumerate(order)}
        last = groups.of_row[-1]
        if last in prefixes:  # else the carry already holds the last row's prefix
            self.carry = Carry(
                groups.keys[last],
                kv.row_slice(layers, slot[last], width - lengths[last], width),
                kind,
            )
        if cache is None or len(parts) > 1:
            cache = kv.from_layers(layers, kind, getattr(self.lm.model, "config", None))
        del layers, parts
        gmask = torch.zeros(len(order), width, dtype=torch.long, device=suffixes[0].device)
        for g, i in slot.items():
            gmask[i, width - lengths[g] :] = 1
        idx = torch.tensor([slot[g] for g in groups.of_row], device=gmask.device)
        cache = select_rows(cache, idx)  # the expansion: each row gets its group's prefix
        embeds, smask = left_pad(suffixes)
        mask = torch.cat([gmask[idx], smask], dim=1)
        pos = positions(mask)[:, width:]
        logits, cache = self.lm(
            inputs_embeds=embeds, attention_mask=mask, position_ids=pos, cache=cache
        )
        clock.count("prefill_tokens", int(smask.sum()))
        clock.count("shared_prefix_rows", len(specs))
        t0 = clock.add("prefill", t0)
        return decode_loop(
            self.lm, logits, cache, mask, pos[:, -1] + 1, specs, eos, decode, clock, t0
        )

    def _check_window(
        self, width: int, suffixes: Sequence[torch.Tensor], specs: Sequence[RowSpec]
    ) -> None:
        longest = width + max(s.shape[0] for s in suffixes) + max(s.max_new_tokens for s in specs)
        if self.window is not None and longest >= self.window:
            raise kv.Unsupported(
                f"a batch of {longest} positions (with pads) reaches the model's "
                f"{self.window}-token sliding window",
                lasting=False,
            )
