"""What a busy second core costs the model: the tiny LLaVA-HF checkpoint's vision tower and LLM
forward on one torch thread, alone and while another process decodes and resizes images (what a
DataLoader worker does beside the engine), alternating per round.

    python tests/bench_contention.py CKPT [--rounds 6]

(``python -m harness.demo.tiny_llava CKPT`` builds the checkpoint.) Issue 15 found the engine's
encode slower than the floor's on the same batches; the floor runs with nothing beside it. This
isolates that cause from the engine: same tensors, same model, only the neighbour differs.
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import statistics
import time
from multiprocessing.synchronize import Event


def busy(stop: Event) -> None:
    """A worker's load: decode a PNG, convert, resize to 336 px (bicubic), scale to float."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (900, 700, 3), dtype=np.uint8)).save(buf, format="PNG")
    data = buf.getvalue()
    while not stop.is_set():
        im = Image.open(io.BytesIO(data)).convert("RGB").resize((336, 336), Image.BICUBIC)
        np.asarray(im, dtype=np.float32) / 255.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--rounds", type=int, default=6)
    a = ap.parse_args()
    import torch
    from transformers import LlavaForConditionalGeneration

    torch.set_num_threads(1)
    model = LlavaForConditionalGeneration.from_pretrained(a.checkpoint).eval()
    pixels = torch.randn(16, 3, 336, 336)
    ids = torch.randint(0, model.config.text_config.vocab_size - 1, (16, 700))

    def once() -> tuple[float, float]:
        with torch.no_grad():
            t0 = time.perf_counter()
            model.model.vision_tower(pixels, output_hidden_states=True)
            t1 = time.perf_counter()
            model.model.language_model(input_ids=ids)
            return t1 - t0, time.perf_counter() - t1

    once()  # warm-up
    res: dict[str, list[tuple[float, float]]] = {"alone": [], "beside a busy worker": []}
    for r in range(a.rounds):
        modes = list(res) if r % 2 == 0 else list(res)[::-1]
        for mode in modes:
            stop, proc = mp.Event(), None
            if mode != "alone":
                proc = mp.Process(target=busy, args=(stop,))
                proc.start()
                time.sleep(0.5)
            res[mode].extend(once() for _ in range(3))
            if proc is not None:
                stop.set()
                proc.join()
    print("batch of 16 (576 image tokens each; LLM forward on 700 tokens), seconds, median [range]")
    for mode, v in res.items():
        enc, lm = [x for x, _ in v], [y for _, y in v]
        print(
            f"{mode:22} encode {statistics.median(enc):.4f} [{min(enc):.4f}-{max(enc):.4f}]"
            f"  LLM forward {statistics.median(lm):.4f} [{min(lm):.4f}-{max(lm):.4f}]"
        )


if __name__ == "__main__":
    main()
