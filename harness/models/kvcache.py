"""Key/value caches as plain tensors: read a transformers cache per layer, and build one back.

Prefix sharing (:mod:`harness.models.sharing`) needs three things a cache class does not offer
directly: the per-layer ``(keys, values)`` tensors (``(batch, heads, length, head_dim)``), a cache
built from such tensors, and the sliding window of its layers. Supported: transformers'
``DynamicCache`` (``layers`` of ``DynamicLayer``, or ``DynamicSlidingWindowLayer`` that has not yet
dropped anything), the 4.x ``DynamicCache`` (``key_cache``/``value_cache``) and legacy tuples.
Anything else raises :class:`Unsupported`, and the caller falls back to unshared generation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

Layers = list[tuple[torch.Tensor, torch.Tensor]]
Cache = Any
"""A transformers KV cache of any version (4.x legacy, 4.5x, 5.x layer objects): its layout
is read by duck typing below, which is why it has no narrower type."""


class Unsupported(Exception):
    """This cache (or model) cannot be split into per-layer tensors and rebuilt.

    ``lasting=False``: only this batch cannot share (e.g. it would reach a sliding window).
    """

    def __init__(self, why: str, lasting: bool = True):
        super().__init__(why)
        self.lasting = lasting


def to_layers(cache: Cache) -> Layers:
    """The ``(keys, values)`` tensors of every layer (views, not copies).

    >>> k = torch.zeros(2, 1, 3, 4)
    >>> [t.shape[2] for t in to_layers(((k, k), (k, k)))[1]]
    [3, 3]
    """
    if isinstance(cache, (tuple, list)):
        return [(layer[0], layer[1]) for layer in cache]
    layers = getattr(cache, "layers", None)
    if layers is not None:
        out = []
        for layer in layers:
            name = type(layer).__name__
            if name not in ("DynamicLayer", "DynamicSlidingWindowLayer"):
                raise Unsupported(f"its cache has {name} layers")
            keys, values = getattr(layer, "keys", None), getattr(layer, "values", None)
            if keys is None or values is None or keys.dim() != 4:
                raise Unsupported(f"its cache has an empty or shared {name} layer")
            if name == "DynamicSlidingWindowLayer" and layer.cumulative_length != keys.shape[-2]:
                raise Unsupported(
                    "its sliding-window cache has already dropped tokens", lasting=False
                )
            out.append((keys, values))
        return out
    if hasattr(cache, "key_cache") and hasattr(
        cache, "value_cache"
    ):  # transformers 4.x DynamicCache
        return list(zip(cache.key_cache, cache.value_cache))
    raise Unsupported(f"its cache type {type(cache).__name__} is not a DynamicCache")


def from_layers(
    layers: Sequence[tuple[torch.Tensor, torch.Tensor]], kind: type[Cache], config: object = None
) -> Cache:
    """A cache of class ``kind`` (as :func:`to_layers` found it) holding ``layers``.

    ``config``: the model's config, so transformers creates the layer types the model itself
    would (sliding-window layers for Mistral).

    >>> k = torch.ones(1, 1, 2, 4)
    >>> from_layers([(k, k)], tuple)[0][0].shape
    torch.Size([1, 1, 2, 4])
    """
    if issubclass(kind, (tuple, list)):
        return tuple((k, v) for k, v in layers)
    if kind.__name__ != "DynamicCache":
        raise Unsupported(f"cannot rebuild a {kind.__name__}")
    import inspect

    params = inspect.signature(kind.__init__).parameters
    if "config" in params and "ddp_cache_data" in params:
        return kind(ddp_cache_data=list(layers), config=config)
    if hasattr(kind, "from_legacy_cache"):  # transformers 4.x
        return kind.from_legacy_cache(tuple((k, v) for k, v in layers))
    raise Unsupported("this transformers version's DynamicCache cannot be built from tensors")


def sliding_window(cache: Cache) -> int | None:
    """The smallest sliding window among the cache's layers (None: all layers attend to
    everything)."""
    windows = [
        int(layer.sliding_window)
        for layer in getattr(cache, "layers", None) or ()
        if getattr(layer, "is_sliding", False) and getattr(layer, "sliding_window", None)
    ]
    return min(windows) if windows else None


def pad_left(layers: Layers, length: int) -> Layers:
    """Layers left-padded with zeros to ``length`` positions (masked positions: their values never
    count).

    >>> k = torch.ones(1, 1, 2, 4)
    >>> pad_left([(k, k)], 5)[0][0][0, 0, :, 0].tolist()
    [0.0, 0.0, 0.0, 1.0, 1.0]
    """
    out = []
    for k, v in layers:
        extra = length - k.shape[2]
        if extra > 0:
            k = torch.cat([k.new_zeros(*k.shape[:2], extra, k.shape[3]), k], dim=2)
            v = torch.cat([v.new_zeros(*v.shape[:2], extra, v.shape[3]), v], dim=2)
        out.append((k, v))
    return out


def concat_rows(parts: Sequence[Layers]) -> Layers:
    """Stack several layer lists (each left-padded to the same length) along the batch."""
    return [
        (torch.cat([p[i][0] for p in parts]), torch.cat([p[i][1] for p in parts]))
        for i in range(len(parts[0]))
    ]


def row_slice(layers: Layers, row: int, start: int, stop: int) -> Layers:
    """One row's positions ``start:stop`` of every layer, copied (so the batch's tensors can be
    freed)."""
    return [
        (k[row : row + 1, :, start:stop].clone(), v[row : row + 1, :, start:stop].clone())
        for k, v in layers
    ]
