"""Caches as tensors: a rebuilt cache continues exactly like the original; unsupported caches say
why."""

from __future__ import annotations

import pytest
import torch

from harness.models import kvcache as kv

SMALL = {
    "vocab_size": 50,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
}


def _lm(family: str, **extra):
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(family, **SMALL, **extra)).eval()


def _cache(lm, ids, cache=None):
    from harness.models.generation import CausalLM

    out = lm(
        input_ids=ids,
        use_cache=True,
        **({CausalLM(lm).cache_kw: cache} if cache is not None else {}),
    )
    return out.logits, getattr(out, "cache", None) or out.past_key_values


@pytest.mark.parametrize("family", ["llama", "mistral"])
def test_rebuilt_and_expanded_cache_continues_like_the_original(family):
    lm = _lm(family)
    ids, nxt = torch.randint(0, 50, (2, 7)), torch.randint(0, 50, (2, 3))
    with torch.no_grad():
        _, cache = _cache(lm, ids)
        layers = kv.to_layers(cache)
        assert len(layers) == 2 and layers[0][0].shape == (2, 2, 7, 8)
        rebuilt = kv.from_layers(
            [(k.clone(), v.clone()) for k, v in layers], type(cache), lm.config
        )
        second_row = kv.from_layers(kv.row_slice(layers, 1, 0, 7), type(cache), lm.config)
        assert second_row.get_seq_length() == 7
        want, _ = _cache(lm, nxt, cache)
        got, _ = _cache(lm, nxt, rebuilt)
        alone, _ = _cache(lm, nxt[1:], second_row)
    assert torch.equal(got, want)
    torch.testing.assert_close(alone[0], want[1], rtol=1e-5, atol=1e-5)


def test_sliding_window_layers_are_read_until_they_drop_tokens():
    lm = _lm("mistral", sliding_window=8)
    with torch.no_grad():
        _, short = _cache(lm, torch.randint(0, 50, (1, 5)))
        _, long = _cache(lm, torch.randint(0, 50, (1, 12)))
        _, plain = _cache(_lm("llama"), torch.ones(1, 3, dtype=torch.long))
    assert kv.sliding_window(short) == 8 and len(kv.to_layers(short)) == 2
    with pytest.raises(kv.Unsupported, match="already dropped tokens"):
        kv.to_layers(long)
    assert kv.sliding_window(plain) is None


def test_unknown_caches_are_unsupported_with_the_reason():
    class StaticLayer:
        keys = values = torch.zeros(1, 1, 1, 1)

    class Odd:
        layers = [StaticLayer()]

    with pytest.raises(kv.Unsupported, match="its cache has StaticLayer layers"):
        kv.to_layers(Odd())
    with pytest.raises(kv.Unsupported, match="cache type object is not a DynamicCache"):
        kv.to_layers(object())
    with pytest.raises(kv.Unsupported, match="cannot rebuild a Odd"):
        kv.from_layers([], Odd)


def test_padding_and_stacking_rows():
    a = [(torch.ones(1, 1, 2, 3), 2 * torch.ones(1, 1, 2, 3))]
    b = [(3 * torch.ones(1, 1, 4, 3), 4 * torch.ones(1, 1, 4, 3))]
    k, v = kv.concat_rows([kv.pad_left(a, 4), kv.pad_left(b, 4)])[0]
    assert k[:, 0, :, 0].tolist() == [[0, 0, 1, 1], [3, 3, 3, 3]] and v[0, 0, :, 0].tolist() == [
        0,
        0,
        2,
        2,
    ]
    piece = kv.row_slice([(k, v)], 0, 2, 4)[0][0]
    assert piece.shape == (1, 1, 2, 3) and piece.data_ptr() != k.data_ptr()
