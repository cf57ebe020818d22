"""Token ids by the memo and the verified backend call are the plain call's ids: every fixture
tokenizer plus other fast-tokenizer pipelines, on prompts with unicode, edge spaces, newlines,
``<image>`` anywhere, empty chunks; changed backend state falls back; pickling keeps working."""

from __future__ import annotations

import pickle

import pytest
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers import trainers as tr
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from transformers.models.llama.tokenization_llama import LlamaTokenizer

from harness.models.imageproc import ImagePipeline, ImageProcessing
from harness.models.prepare import (
    IMAGE_SLOT,
    IMAGE_TOKEN,
    ChunkIds,
    Preprocessor,
    direct_path_verified,
    tokenize_with_token,
)
from harness.models.templates import resolve_template, user_turn
from harness.types import ImageRef, Request
from tests.models.conftest import random_image

PROMPTS = [
    "",
    " ",
    "\n",
    IMAGE_TOKEN,
    IMAGE_TOKEN * 3,
    f"{IMAGE_TOKEN}\nWhat is it?",
    f"What is it?{IMAGE_TOKEN}",
    f"USER: {IMAGE_TOKEN}\n{IMAGE_TOKEN}\nCompare them. ASSISTANT:",
    f"  leading and trailing spaces {IMAGE_TOKEN}  ",
    f"tabs\tand\r\nwindows newlines\n\n{IMAGE_TOKEN}\n\n",
    "unicode: caf\u00e9 na\u00efve \u4e2d\u6587 \u65e5\u672c\u8a9e \U0001f642 \u2581 \u00a0nbsp",
    f"combining e\u0301 and {IMAGE_TOKEN} emoji \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "specials spelt out: <s> </s> <unk> <pad> <|endoftext|> [CLS] [SEP]",
    f"{IMAGE_TOKEN}<image >< image>&lt;image&gt;",
    "A chat between a curious human and an artificial intelligence assistant. The assistant "
    "gives helpful, detailed, and polite answers to the human's questions. USER: ",
    "Is there a dog in the image? Please answer yes or no. ASSISTANT:",
    "x" * 3000,
    "The value is $1,234.56 (approx. 12%) - see table #3; [a] {b} <c> ~d~ `e` |f|",
]


def old_tokenize_chunks(tokenizer, text):
    """tokenize_chunks before the memo (a private copy: the reference)."""
    bos = tokenizer.bos_token_id
    chunks = [tokenizer(c).input_ids for c in text.split(IMAGE_TOKEN)]
    starts_bos = bos is not None and bool(chunks[0]) and chunks[0][0] == bos
    ids = [bos] if starts_bos else []
    for i, chunk in enumerate(chunks):
        if i:
            ids.append(IMAGE_SLOT)
        ids.extend(chunk[1:] if starts_bos and chunk and chunk[0] == bos else chunk)
    return ids


def _byte_level() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = tr.BpeTrainer(
        vocab_size=320,
        special_tokens=["<|endoftext|>", "<image>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(
        ["hello world \u00fcn\u00efc\u00f6d\u00e9 \u4e2d\u6587 text"] * 5, trainer
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", additional_special_tokens=["<image>"]
    )


def _wordpiece() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    specials = ["[UNK]", "[CLS]", "[SEP]", "[PAD]"]
    trainer = tr.WordPieceTrainer(vocab_size=200, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(["Hello World what is it in the image"] * 5, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        pad_token="[PAD]",
    )


@pytest.fixture(scope="module")
def tokenizers(tok_dir):
    """The demo tokenizer (every demo model and every fixture checkpoint uses it), it loaded as
    transformers' LlamaTokenizer, a byte-level BPE, and a WordPiece with a normaliser and no
    BOS."""
    return {
        "demo": AutoTokenizer.from_pretrained(str(tok_dir)),
        "demo_as_llama": LlamaTokenizer.from_pretrained(str(tok_dir)),
        "byte_level": _byte_level(),
        "wordpiece": _wordpiece(),
    }


VERIFIED_TRANSFORMERS = "5.24.0"  # the version whose code the digests in prepare were read from


def test_the_backend_call_is_used_exactly_where_verified(tokenizers):
    """The digests in prepare._DIRECT_PATH are of the transformers code read for the backend
    call. With that transformers the backend call must be in use; with another one (a user's
    newer install) the plain call runs (slower, the same ids) until someone reads the new code
    path and updates the digests."""
    import transformers

    for tok in tokenizers.values():
        verified = direct_path_verified(type(tok))
        assert ChunkIds(tok).direct == verified
        if transformers.__version__ == VERIFIED_TRANSFORMERS:
            assert verified, type(tok).__name__


def test_backend_ids_and_memo_equal_the_plain_call(tokenizers):
    for name, tok in tokenizers.items():
        ids = ChunkIds(tok)
        for text in PROMPTS:
            for chunk in [text, *text.split(IMAGE_TOKEN)]:
                want = tok(chunk).input_ids
                assert ids.encode(chunk) == want, (name, chunk)
                assert list(ids(chunk)) == want and list(ids(chunk)) == want, (name, chunk)
        assert len(ids.memo) > 0


def test_preprocessor_tokenisation_equals_the_old_code(tokenizers):
    proc = ImageProcessing.from_dict({"size": {"shortest_edge": 28}})
    for name, tok in tokenizers.items():
        image_id = tok.convert_tokens_to_ids("<image>")
        chunked = Preprocessor(tok, resolve_template("vicuna_v1"), ImagePipeline(proc, "pad"))
        token = Preprocessor(tok, resolve_template("plain"), ImagePipeline(proc, "pad"), image_id)
        for _ in range(2):  # the second time from the memo
            for prompt in PROMPTS:
                for n in (0, 1, 2):
                    text = chunked.template.render(user_turn(prompt, n, IMAGE_TOKEN))
                    assert chunked.tokenize(text) == old_tokenize_chunks(tok, text), (name, text)
                    want = [IMAGE_SLOT if t == image_id else t for t in tok(text).input_ids]
                    assert token.tokenize(text) == want, (name, text)
                    assert tokenize_with_token(tok, text, image_id) == want


def test_backend_state_the_call_would_change_falls_back(tok_dir):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    text = "What is the total amount on the invoice?"
    plain = tok(text).input_ids
    ids = ChunkIds(tok)
    tok._tokenizer.enable_truncation(max_length=3)  # the plain call switches it off again
    assert ids.encode(text) == plain and tok._tokenizer.truncation is None
    tok._tokenizer.enable_padding(length=40)
    assert ids.encode(text) == plain and tok._tokenizer.padding is None
    tok.split_special_tokens = True  # "<image>" spelt out, not the special token
    assert ids.encode(IMAGE_TOKEN) == tok(IMAGE_TOKEN).input_ids != [1, 4]
    tok.split_special_tokens = False
    assert ids.encode(IMAGE_TOKEN) == tok(IMAGE_TOKEN).input_ids == [1, 4]


def test_too_long_falls_back_to_the_call_that_warns(tok_dir):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    tok.model_max_length = 8
    flag = "sequence-length-is-longer-than-the-specified-maximum"
    short, long = "one two", "one two three four five six seven eight nine ten"
    assert ChunkIds(tok).encode(short) == tok(short).input_ids
    assert not tok.deprecation_warnings.get(flag)
    got = ChunkIds(tok).encode(long)
    assert tok.deprecation_warnings.get(flag)  # set by the plain call's warning, which ran
    assert got == tok(long).input_ids and len(got) > 8


def test_other_classes_take_the_plain_call(tok_dir):
    class Overrides(PreTrainedTokenizerFast):
        def __call__(self, text, **kwargs):
            out = super().__call__(text, **kwargs)
            out["input_ids"] = [7, *out["input_ids"]]
            return out

    over = Overrides.from_pretrained(str(tok_dir))
    assert not direct_path_verified(Overrides)
    assert ChunkIds(over).encode("hi there") == [
        7,
        *AutoTokenizer.from_pretrained(str(tok_dir))("hi there").input_ids,
    ]

    class Fake:  # any object with the call (tests' fakes, other libraries)
        bos_token_id = 5

        def __call__(self, text):
            return type("Enc", (), {"input_ids": [5, *map(ord, text)]})()

    fake = ChunkIds(Fake())
    assert not fake.direct and fake.encode("ab") == [5, 97, 98]


def test_memo_is_bounded_and_not_pickled(tok_dir):
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = ChunkIds(tok, size=4)
    for i in range(10):
        ids(f"question {i}")
    assert list(ids.memo) == [f"question {i}" for i in range(6, 10)]
    proc = ImageProcessing.from_dict({"size": {"shortest_edge": 28}})
    pre = Preprocessor(tok, resolve_template("vicuna_v1"), ImagePipeline(proc, "pad"), memo=2)
    req = Request("a", "What is it?", images=[ImageRef(image=random_image(0, 30, 20))])
    first = pre(req)
    assert pre._ids is not None and pre._ids.memo
    back = pickle.loads(pickle.dumps(pre))  # as the engine's data-loader workers get it
    assert back._ids is None and not back._recent
    again = back(req)
    assert again.input_ids == first.input_ids
    assert again.pixel_values[0].numpy().tobytes() == first.pixel_values[0].numpy().tobytes()
    pre.tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))  # a new tokenizer: a new memo
    assert pre.tokenize("USER: <image>\nhi") == old_tokenize_chunks(tok, "USER: <image>\nhi")
    assert pre._ids is not None and pre._ids.tokenizer is pre.tokenizer
