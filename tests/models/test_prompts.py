"""Templates render exact prompt texts; tokenisation places one image slot per image."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from harness.errors import HarnessError, SampleError
from harness.models.imageproc import ImagePipeline, ImageProcessing
from harness.models.prepare import IMAGE_SLOT, Preprocessor, tokenize_chunks, tokenize_with_token
from harness.models.templates import resolve_template, user_turn
from harness.types import ImageRef, Request
from tests.models.conftest import random_image

VICUNA = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, "
    "detailed, and polite answers to the human's questions. USER: <image>\nIs it red? ASSISTANT:"
)


@pytest.fixture(scope="module")
def tok(tok_dir):
    return AutoTokenizer.from_pretrained(str(tok_dir))


def test_builtin_templates_exact_text():
    turn = user_turn("Is it red?", 1)
    assert resolve_template("vicuna_v1").render(turn) == VICUNA
    assert resolve_template("plain").render(turn) == "<image>\nIs it red?\n"
    assert resolve_template("chatml").render(turn) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<image>\nIs it red?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert resolve_template("chatml").stop == ("<|im_end|>",)
    assert resolve_template("mistral_instruct").render(turn) == "[INST] <image>\nIs it red? [/INST]"
    custom = resolve_template({"prefix": "Q: ", "suffix": "\nA:", "stop": ["\n"]})
    assert custom.render("x") == "Q: x\nA:" and custom.stop == ("\n",)
    assert user_turn("Compare.", 2) == "<image>\n<image>\nCompare."


def test_template_errors():
    with pytest.raises(HarnessError, match=r"unknown template 'vicuna'; valid: vicuna_v1"):
        resolve_template("vicuna")
    with pytest.raises(HarnessError, match="needs 'prefix' and 'suffix'"):
        resolve_template({"prefix": "x"})
    with pytest.raises(HarnessError, match="has no chat_template"):
        resolve_template("tokenizer", None)


def test_tokenizer_chat_template(tok):
    t = resolve_template("tokenizer", tok)
    assert t.render("<image>\nhi") == "USER: <image>\nhi ASSISTANT:"


def test_chunk_tokenisation_keeps_one_bos_and_tokenises_chunks_alone(tok):
    text = "USER: <image>\nWhat is it? ASSISTANT:"
    ids = tokenize_chunks(tok, text)
    first, second = tok("USER: ").input_ids, tok("\nWhat is it? ASSISTANT:").input_ids
    assert first[0] == second[0] == tok.bos_token_id
    assert ids == first + [IMAGE_SLOT] + second[1:]
    token_mode = tokenize_with_token(tok, text, tok.convert_tokens_to_ids("<image>"))
    assert token_mode.count(IMAGE_SLOT) == 1 and token_mode[0] == tok.bos_token_id


def test_preprocessor_counts_images_and_reports_errors(tok):
    proc = ImageProcessing.from_dict(
        {
            "size": {"shortest_edge": 28},
            "crop_size": {"height": 28, "width": 28},
            "do_center_crop": True,
        }
    )
    pre = Preprocessor(tok, resolve_template("vicuna_v1"), ImagePipeline(proc, "pad"))
    two = Request(
        "a",
        "Same?",
        images=[ImageRef(image=random_image(0, 30, 20)), ImageRef(image=random_image(1, 20, 30))],
    )
    p = pre(two)
    assert p.error is None and p.input_ids.count(IMAGE_SLOT) == 2 and len(p.pixel_values) == 2
    slots = [i for i, t in enumerate(p.input_ids) if t == IMAGE_SLOT]
    assert p.image_sizes == [(30, 20), (20, 30)] and p.prefix_length() == slots[1] + 1
    assert p.pixel_values[0].shape == (1, 3, 28, 28)
    wrong = pre(
        Request("b", "<image> and <image>?", images=[ImageRef(image=random_image(0, 9, 9))])
    )
    assert isinstance(wrong.error, SampleError) and "2 image tokens for 1 images" in str(
        wrong.error
    )
    missing = pre(Request("c", "x", images=[ImageRef()]))
    assert isinstance(missing.error, SampleError) and missing.pixel_values == []
