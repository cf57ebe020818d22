"""Fit a freshly written demo MLLM to the demo sets, so the demo models give real answers.

The demo checkpoint is loaded back through the harness's own loader (:func:`load_llava`), each
demo sample goes through the harness's own preprocessing (chat template, tokenisation, image
pipeline), the encoder's configured feature layer, the projector and the anyres packing, and the
LLM and projector are trained (teacher forcing on the reference answer + EOS) with a seeded,
deterministic CPU loop: one thread, deterministic algorithms, a fixed sample order. The weights
are written back under the checkpoint's own key names, so rebuilding gives the same bytes.

A change on that path after the checkpoint was built (a template, an image normalisation, a
feature layer) feeds the model inputs it was not fit on and moves the demo's predictions.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import HarnessError

if TYPE_CHECKING:
    from harness.models.mllm import MLLM
    from harness.types import Request

FIT_STEPS = 160  # optimiser steps per demo model (about 12 s of CPU on one thread)
FIT_BATCH = 8
FIT_LR = 1e-2  # AdamW, betas (0.9, 0.95), decayed linearly to 0


@dataclass
class Example:
    ids: list[int]  # prompt ids (with image slots) + answer ids + EOS
    n_answer: int  # the trailing tokens that carry the loss
    crops: list[torch.Tensor]  # per image: encoder features of its crops (frozen encoder)
    sizes: list[tuple[int, int]]


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """One CPU thread, deterministic kernels and a private RNG state, restored afterwards."""
    threads, strict = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.use_deterministic_algorithms(strict)
            torch.set_num_threads(threads)


def demo_requests(data_root: Path) -> list[tuple[Request, str]]:
    """(request, reference answer) for every sample of every demo set, in a fixed order."""
    from harness.demo.data import demo_dataset
    from harness.tasks import get_task_class, task_names
    from harness.tasks.base import dataset_defaults

    out = []
    for name in task_names():
        dataset = demo_dataset(name, data_root, dataset_defaults(name))
        task = get_task_class(name)({"dataset": dataset})
        for doc in task.docs():
            out.append((task.build_request(doc), str(task.reference(doc))))
    return out


def examples(mllm: MLLM, pairs: Sequence[tuple[Request, str]]) -> list[Example]:
    """The training rows, prepared exactly as the harness prepares an evaluation request."""
    out = []
    tok = mllm.tokenizer
    for request, answer in pairs:
        prep = mllm.preprocessor(request)
        if prep.error is not None:
            raise prep.error
        answer_ids = tok(answer, add_special_tokens=False).input_ids + [tok.eos_token_id]
        with torch.no_grad():
            crops = [mllm.encoder(pv).to(mllm.device.dtype) for pv in prep.pixel_values]
        out.append(Example(prep.input_ids + answer_ids, len(answer_ids), crops, prep.image_sizes))
    return out


def _image_embeddings(mllm: MLLM, ex: Example) -> list[torch.Tensor]:
    from harness.models import anyres

    parts, feats = mllm.parts, []
    for crops, size in zip(ex.crops, ex.sizes):
        f = mllm.projector(crops)
        if parts.aspect == "anyres":
            f = anyres.pack(
                f, size, parts.pinpoints, parts.processing.square_side(), parts.merge, mllm.newline
            )
        else:
            f = f.flatten(0, 1)
        feats.append(f)
    return feats


def batch_loss(mllm: MLLM, batch: list[Example]) -> torch.Tensor:
    """Cross-entropy of the answer tokens (mean per sample, then over samples) over a
    left-padded batch, padded and positioned as generation does; the LM head is applied at the
    answer positions only."""
    from harness.models.generation import left_pad, positions

    rows = [mllm.embed_ids(ex.ids[:-1], _image_embeddings(mllm, ex)) for ex in batch]
    embeds, mask = left_pad(rows)
    llm: Any = mllm.parts.llm  # a transformers causal LM
    hidden = llm.get_decoder()(
        inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask), use_cache=False
    ).last_hidden_state
    picked = torch.cat([hidden[i, -ex.n_answer :] for i, ex in enumerate(batch)])
    targets = torch.tensor([t for ex in batch for t in ex.ids[-ex.n_answer :]])
    # each sample weighs the same (a long OCR answer does not drown a yes/no)
    weights = torch.cat([torch.full((ex.n_answer,), 1.0 / ex.n_answer) for ex in batch])
    losses = torch.nn.functional.cross_entropy(
        llm.get_output_embeddings()(picked), targets, reduction="none"
    )
    return (losses * weights).sum() / len(batch)


def fit(
    mllm: MLLM, pairs: Sequence[tuple[Request, str]], seed: int, steps: int = FIT_STEPS
) -> list[float]:
    """Train the LLM and projector of ``mllm`` in place; returns the loss of each step."""
    rows = examples(mllm, pairs)
    params = [*mllm.parts.llm.parameters(), *mllm.projector.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=FIT_LR, betas=(0.9, 0.95), weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1.0 - k / steps)  # linear decay to 0
    order: list[int] = []
    rng, losses = random.Random(seed), []
    mllm.parts.llm.train()
    mllm.projector.train()
    for _ in range(steps):
        if len(order) < FIT_BATCH:
            epoch = list(range(len(rows)))
            rng.shuffle(epoch)
            order += epoch
        batch, order = [rows[i] for i in order[:FIT_BATCH]], order[FIT_BATCH:]
        loss = batch_loss(mllm, batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    mllm.parts.llm.eval()
    mllm.projector.eval()
    return losses


def fit_checkpoint(
    folder: Path, encoder_cfg: dict[str, Any], data_root: Path, seed: int, steps: int = FIT_STEPS
) -> list[float]:
    """Load the demo MLLM in ``folder`` with the harness's loader, fit it, rewrite its weights.
    ``steps=0`` leaves the seeded random weights (a free-running LM, for generation tests)."""
    if steps <= 0:
        return []
    from safetensors.torch import load_file, save_file

    from harness.device import resolve_device
    from harness.models.formats import load_llava
    from harness.models.mllm import MLLM

    with deterministic(seed):
        device = resolve_device("cpu", "fp32")
        parts = load_llava(folder, {}, encoder_cfg, device.dtype, device.torch_device)
        mllm = MLLM(parts, device, "vicuna_v1", cpu_threads=1, share_images=False)
        losses = fit(mllm, demo_requests(data_root), seed, steps)
    weights = folder / "model.safetensors"
    saved = load_file(str(weights))
    trained = {k: v.detach() for k, v in mllm.parts.llm.state_dict().items()}
    trained.update(
        {f"model.mm_projector.{k}": v.detach() for k, v in mllm.projector.state_dict().items()}
    )
    stray = sorted(k for k in trained if k not in saved)
    if stray:  # the loader and the writer disagree on key names: refuse to write a half model
        raise HarnessError(f"{weights}: trained weights not in the checkpoint: {stray[:3]}")
    saved.update(trained)
    save_file({k: v.contiguous() for k, v in saved.items()}, str(weights))
    return losses
