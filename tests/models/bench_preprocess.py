"""Preprocessing before the lookup-table and token-id changes against now, side by side in one
process, on the demo CLIP-L MLLM's own preprocessor (anyres, 56-px tiles, vicuna_v1).

    python tests/models/bench_preprocess.py [--images 500] [--rounds 5] [--sizes 600-1200 224x160]

Each set is generated: document-like pages (white, dark text-like bars, a few grey boxes),
PNG-encoded, each with its own DocVQA-style question (all distinct, so only the template's own
chunks can come from the token-id memo). ``600-1200``: random sides in that range; ``224x160``:
the demo DocVQA page size, the pages the issue's 2.8 ms/sample profile was taken on.

First a pass checks that old and new give the same ``Prepared`` for every sample (token ids;
pixels bit for bit; sizes; hashes) and stops with an AssertionError otherwise. Then each round
times every step over all samples, old and new back to back (the order swaps each round), and
the report gives ms per sample as min-max (median) over the rounds and the new/old ratio.

Steps: ``read+hash``, ``decode`` (ImageRef.load) and ``resize`` (the anyres overview and grid,
ImagePipeline.anyres_crops) are the same code before and after: timed once per round, one page at
a time. ``process``: the crops through the processor (pixels, rescale, normalise, stacked);
``normalise``: the arithmetic alone on the crops' uint8 pixels; ``tokenise``: the rendered prompt
to ids (each pass starts with an empty memo, as a fresh worker does); ``prepare``:
Preprocessor.__call__ end to end. ``normalise 336``: the arithmetic at the real CLIP-L processor's
336 x 336 (on a tenth of the pages, padded to squares), for scale.

The "old" code below is a private copy of the code before the change (commit 505d85b), kept here
only for this comparison. Several minutes at the defaults on 2 busy cores.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.models.imageproc import ImagePipeline, ImageProcessing  # noqa: E402
from harness.models.prepare import (  # noqa: E402
    IMAGE_TOKEN,
    Preprocessor,
)
from harness.models.templates import user_turn  # noqa: E402
from harness.types import ImageRef, Request  # noqa: E402

# the code before the change: the private copies the exactness tests hold to
from tests.models.test_imageproc_exact import CLIP_L as CLIP_L_336  # noqa: E402
from tests.models.test_imageproc_exact import old_arithmetic  # noqa: E402
from tests.models.test_imageproc_exact import old_call as old_pixels_and_arithmetic  # noqa: E402
from tests.models.test_prepare_tokens import old_tokenize_chunks  # noqa: E402


def old_process(proc: ImageProcessing, crops: Sequence[Image.Image]) -> np.ndarray:
    """ImagePipeline.__call__'s anyres line before: each crop through the processor, stacked."""
    return np.stack([old_pixels_and_arithmetic(proc, t) for t in crops])


class OldPipeline(ImagePipeline):
    """ImagePipeline.__call__ before, for the demo's anyres (pil backend)."""

    def __call__(self, image: Image.Image) -> np.ndarray:
        assert self.aspect == "anyres" and self.processing.reference is None
        image = image.convert("RGB") if image.mode != "RGB" else image
        side = self.processing.square_side()
        return old_process(self.processing, self.anyres_crops(image, side))


class OldPreprocessor(Preprocessor):
    """Preprocessor before: the old pipeline and the old tokenisation (one call per chunk)."""

    def tokenize(self, text: str) -> list[int]:
        assert self.image_token_id is None
        return old_tokenize_chunks(self.tokenizer, text)


def old_of(pre: Preprocessor) -> OldPreprocessor:
    images = OldPipeline(pre.images.processing, pre.images.aspect, pre.images.pinpoints)
    return OldPreprocessor(pre.tokenizer, pre.template, images, pre.image_token_id, memo=0)


# ---- inputs --------------------------------------------------------------------------------------
QUESTIONS = (  # each sample's question is distinct (its number), so no question is memoised
    "What is the invoice number on page {i}?",
    "Who is letter {i} addressed to?",
    "What is the date mentioned in document {i}?",
    "What is the total amount due on bill {i}?",
    "Which city appears in the header of form {i}?",
    "What is the title of the report on page {i}?",
    "How many items are listed in table {i}?",
    "What is written in the top-left corner of sheet {i}?",
)


def page(rng: np.random.Generator, w: int, h: int) -> bytes:
    """A document-like page: white, dark text-like bars in lines, a few grey boxes; PNG."""
    a = np.full((h, w, 3), 255, np.uint8)
    y = int(rng.integers(10, 40))
    while y < h - 20:
        x = int(rng.integers(10, 40))
        while x < w - 30:
            word = int(rng.integers(8, 60))
            a[y : y + 9, x : x + word] = int(rng.integers(0, 90))
            x += word + int(rng.integers(4, 12))
        y += int(rng.integers(14, 30))
    for _ in range(int(rng.integers(0, 3))):
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        a[y0 : y0 + h // 6, x0 : x0 + w // 4] = rng.integers(150, 230, 3, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def requests(n: int, sizes: str, seed: int) -> list[Request]:
    rng = np.random.default_rng(seed)
    if "x" in sizes:
        w, h = (int(v) for v in sizes.split("x"))
        dims = [(w, h)] * n
    else:
        lo, hi = (int(v) for v in sizes.split("-"))
        dims = [(int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))) for _ in range(n)]
    out = []
    for i, (w, h) in enumerate(dims):
        q = QUESTIONS[i % len(QUESTIONS)].format(i=i)
        out.append(Request(f"q{i}", q, images=[ImageRef(data=page(rng, w, h))]))
    return out


# ---- timing --------------------------------------------------------------------------------------
def per_sample_ms(fn: Callable[[Any], Any], items: Sequence[Any], pre: Preprocessor) -> float:
    pre._ids = None  # each pass starts with an empty token-id memo, as a fresh worker does
    t0 = time.perf_counter()
    for x in items:
        fn(x)
    return (time.perf_counter() - t0) / len(items) * 1e3


def check_same(pre: Preprocessor, reqs: Sequence[Request]) -> None:
    """Old and new give the same Prepared for every request: ids, pixels bit for bit, sizes,
    hashes."""
    old = old_of(pre)
    for r in reqs:
        a, b = old(r), pre(r)
        assert a.error is None and b.error is None, (a.error, b.error)
        assert a.input_ids == b.input_ids, (r.id, a.input_ids, b.input_ids)
        assert a.image_sizes == b.image_sizes and a.image_hashes == b.image_hashes, r.id
        for x, y in zip(a.pixel_values, b.pixel_values, strict=True):
            x, y = x.numpy(), y.numpy()
            assert x.shape == y.shape and x.dtype == y.dtype == np.float32, r.id
            assert x.flags.c_contiguous and y.flags.c_contiguous, r.id
            assert np.array_equal(x.view(np.uint32), y.view(np.uint32)), r.id


def bench_set(pre: Preprocessor, reqs: list[Request], rounds: int) -> dict[str, dict[str, list]]:
    """ms per sample per step and round. The unchanged steps (read+hash, decode, resize) run once
    per round, one image at a time (no decoded page is kept); the changed ones old and new."""
    proc, pipe = pre.images.processing, pre.images
    side = proc.square_side()
    refs = [r.images[0] for r in reqs]
    big = ImageProcessing.from_dict(CLIP_L_336)
    crops, arrays, big_arrays = [], [], []
    for i, ref in enumerate(refs):
        img = ref.load()
        crops.append(pipe.anyres_crops(img, side))
        arrays.append([proc.pixels(t) for t in crops[-1]])
        if i < max(1, len(refs) // 10):
            big_arrays.append(big.pixels(expand_pad(img)))
    texts = [pre.template.render(user_turn(r.prompt, 1, IMAGE_TOKEN)) for r in reqs]
    tok = pre.tokenizer
    steps: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any], Sequence[Any]]] = {
        "process": (lambda c: old_process(proc, c), proc.stack, crops),
        "normalise": (
            lambda a: [old_arithmetic(proc, x) for x in a],
            lambda a: [proc.normalise(x) for x in a],
            arrays,
        ),
        "tokenise": (lambda t: old_tokenize_chunks(tok, t), pre.tokenize, texts),
        "prepare": (old_of(pre), pre, reqs),
        "normalise 336": (lambda a: old_arithmetic(big, a), big.normalise, big_arrays),
    }
    times: dict[str, dict[str, list]] = {
        s: {"old": [], "new": []} for s in ("read+hash", "decode", "resize", *steps)
    }
    for rnd in range(rounds):
        spent = dict.fromkeys(("read+hash", "decode", "resize"), 0.0)
        for ref in refs:  # the same code before and after: timed once, in one column
            t0 = time.perf_counter()
            ref.content_hash()
            t1 = time.perf_counter()
            img = ref.load()
            t2 = time.perf_counter()
            pipe.anyres_crops(img, side)
            t3 = time.perf_counter()
            spent["read+hash"] += t1 - t0
            spent["decode"] += t2 - t1
            spent["resize"] += t3 - t2
        for step, total in spent.items():
            times[step]["old"].append(total / len(refs) * 1e3)
        order = ("old", "new") if rnd % 2 == 0 else ("new", "old")
        for step, (old_fn, new_fn, items) in steps.items():
            for which in order:
                fn = old_fn if which == "old" else new_fn
                times[step][which].append(per_sample_ms(fn, items, pre))
        print(f"  round {rnd + 1}/{rounds} done", file=sys.stderr, flush=True)
    return times


def expand_pad(img: Image.Image) -> Image.Image:
    from harness.models.imageproc import expand_to_square

    return expand_to_square(img, (122, 116, 104))


def fmt(xs: list[float]) -> str:
    return f"{min(xs):7.3f}-{max(xs):7.3f} ({statistics.median(xs):.3f})"


def report(name: str, n: int, times: dict[str, dict[str, list]]) -> None:
    print(f"\n{name}: {n} samples, ms per sample, min-max (median) over rounds")
    print(f"{'step':14} {'old':>28} {'new':>28}  new/old (median)")
    for step, t in times.items():
        if not t["new"]:
            print(f"{step:14} {fmt(t['old']):>28} {'(unchanged code)':>28}")
            continue
        ratio = statistics.median(t["new"]) / statistics.median(t["old"])
        print(f"{step:14} {fmt(t['old']):>28} {fmt(t['new']):>28}  {ratio:.2f}")


def demo_preprocessor() -> Preprocessor:
    from harness.bench_tools import DEFAULTS, load

    model = load(list(DEFAULTS))[4]
    pre: Preprocessor = model.preprocessor  # type: ignore[attr-defined]
    assert isinstance(pre.images, ImagePipeline) and pre.images.aspect == "anyres"
    return Preprocessor(pre.tokenizer, pre.template, pre.images, pre.image_token_id, memo=0)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument(
        "--sizes",
        nargs="+",
        default=["600-1200", "224x160"],
        help="per set: LO-HI (random sides) or WxH (the demo DocVQA page is 224x160)",
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    pre = demo_preprocessor()
    from harness.models.prepare import ChunkIds

    direct = ChunkIds(pre.tokenizer).direct
    print(
        f"demo CLIP-L preprocessor: {pre.images.processing.describe()}, aspect "
        f"{pre.images.aspect}, template {pre.template.name}, tokenizer "
        f"{type(pre.tokenizer).__name__} (backend call verified: {direct})"
    )
    for sizes in args.sizes:
        reqs = requests(args.images, sizes, args.seed)
        check_same(pre, reqs)
        print(f"set {sizes}: old and new outputs identical on all {len(reqs)} samples")
        report(f"set {sizes}", len(reqs), bench_set(pre, reqs, args.rounds))


if __name__ == "__main__":
    main()
