"""A tiny random LLaVA-HF checkpoint to time the engine: ``python -m harness.demo.tiny_llava OUT``.

It writes, with transformers' own ``save_pretrained`` (the real on-disk format), a
``LlavaForConditionalGeneration`` whose shapes make its time go where a real LLaVA-1.5's goes:

- a CLIP vision tower at 336 px, patch 14: 576 image tokens per image, as CLIP-L/336's, but
  :data:`VISION` wide and deep (a real tower is 1024 wide, 24 layers);
- the LLaVA-1.5 projector (``mlp2x_gelu``), feature layer -2, ``default`` selection (CLS dropped);
- a small Llama (:data:`TEXT`) with the demo tokenizer's vocabulary
  (:func:`harness.demo.models.build_tokenizer`, ``<image>`` included);
- ``preprocessor_config.json``: the CLIP image processor at 336 px (resize shortest edge, centre
  crop, CLIP mean and std), which the harness runs through transformers' own processor, as it
  does for any LLaVA-HF folder.

The weights are random, drawn from a fixed seed (same seed, same bytes): the answers mean nothing,
they are only deterministic. The folder loads like any user's LLaVA-HF folder:
``python -m harness encoder=clip_l model.checkpoint=OUT data=demo task=docvqa`` (``encoder=``
is needed because the tower's shapes are not CLIP-L's, so the harness cannot infer it; see
:func:`harness.models.towers.checkpoint_tower`). ``python -m harness.bench --tiny-llava [DIR]``
builds it once and benchmarks it.

The folder also holds :data:`MANIFEST` (builder version, seed, shapes, parameter counts), so a
later build request can tell whether a folder is this builder's output, and for which settings.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from harness.demo.hub import build_once
from harness.errors import HarnessError

VERSION = "1"
"""Bump when the builder writes anything different (shapes, init, files)."""
SEED = 0
MANIFEST = "tiny_llava.json"
IMAGE_SIZE = 336
PATCH = 14
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2  # 576: the LLM sees one token per patch (CLS dropped)

VISION: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "image_size": IMAGE_SIZE,
    "patch_size": PATCH,
}
"""The CLIP tower: 336 px / patch 14 as CLIP-L/336, a quarter as wide, 4 layers."""
TEXT: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 688,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}
"""The Llama: 512 wide, 4 layers (head size 64, as Llama-7B's); the token ids are the demo
tokenizer's."""


def _processor_config() -> dict[str, Any]:
    """CLIPImageProcessor at 336 px: the demo CLIP processor's steps at CLIP-L/336's size."""
    from harness.demo.models import _image_processor

    return {
        **_image_processor("clip"),
        "size": {"shortest_edge": IMAGE_SIZE},
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    }


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """Parameters of the whole model and of its vision tower, projector and language model."""
    parts = {
        "vision_tower": "model.vision_tower",
        "projector": "model.multi_modal_projector",
        "language_model": "model.language_model",
        "lm_head": "lm_head",
    }

    def count(module: torch.nn.Module) -> int:
        return sum(int(p.numel()) for p in module.parameters())

    counts = {k: count(model.get_submodule(name)) for k, name in parts.items()}
    counts["total"] = count(model)
    return counts


def write(folder: Path, seed: int = SEED) -> dict[str, Any]:
    """Write the checkpoint into ``folder`` (created; files in it are overwritten) and return
    its manifest (also written to ``folder/tiny_llava.json``)."""
    from transformers import (
        AutoTokenizer,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    from harness.demo.models import build_tokenizer
    from harness.models.checkpoints import quiet_transformers

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(folder)
    tok = AutoTokenizer.from_pretrained(str(folder))
    image_token = tok.convert_tokens_to_ids("<image>")
    if not isinstance(image_token, int) or image_token == tok.unk_token_id:
        raise HarnessError(f"{folder}: the demo tokenizer has no <image> token")
    text = {
        **TEXT,
        "vocab_size": len(tok),
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
        "pad_token_id": tok.pad_token_id,
    }
    cfg = LlavaConfig(
        vision_config=CLIPVisionConfig(**VISION).to_dict(),
        text_config=LlamaConfig(**text).to_dict(),
        image_token_index=image_token,
        image_seq_length=IMAGE_TOKENS,
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    with torch.random.fork_rng(devices=[]), quiet_transformers():
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(cfg)
        model.save_pretrained(str(folder))
    processor = _processor_config()
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2) + "\n")
    manifest = {
        "builder": "harness.demo.tiny_llava",
        "version": VERSION,
        "seed": seed,
        "format": "transformers LlavaForConditionalGeneration",
        "dtype": "fp32",
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH,
        "image_tokens": IMAGE_TOKENS,
        "image_token_id": image_token,
        "vision": VISION,
        "text": text,
        "parameters": parameter_counts(model),
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of a folder this builder wrote, or None."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # not this builder's (or damaged): ensure() refuses the folder
    return data if isinstance(data, dict) else None


def ensure(folder: Path, seed: int = SEED) -> tuple[Path, dict[str, Any], bool]:
    """(folder, manifest, built now): the checkpoint in ``folder``, built there once.

    A folder that holds this builder's complete output for the same version and seed is reused;
    a missing or empty one is built (atomically: a temporary sibling, then renamed); anything
    else is a HarnessError naming the folder (nothing in it is touched).
    """
    folder = Path(folder).expanduser().absolute()
    if folder.exists() and not folder.is_dir():
        raise HarnessError(f"{folder}: not a folder (the tiny LLaVA checkpoint needs one)")
    found = read_manifest(folder) if folder.is_dir() else None
    complete = (folder / ".complete").is_file()
    if found is not None and complete:
        if found.get("version") != VERSION or found.get("seed") != seed:
            raise HarnessError(
                f"{folder}: holds a tiny LLaVA checkpoint of builder version "
                f"{found.get('version')}, seed {found.get('seed')}; this one writes version "
                f"{VERSION}, seed {seed}: give another folder or remove it"
            )
        return folder, found, False
    if folder.is_dir() and any(folder.iterdir()):
        raise HarnessError(
            f"{folder}: not empty and not a complete tiny LLaVA checkpoint; "
            "give an empty or new folder"
        )
    if folder.is_dir():
        folder.rmdir()  # empty: build_once renames its finished build onto this path
    built: dict[str, Any] = {}

    def build(tmp: Path) -> None:
        built.update(write(tmp, seed))

    build_once(folder, build)
    return folder, read_manifest(folder) or built, True


def describe(manifest: dict[str, Any]) -> str:
    """One line: the shapes and parameter counts."""
    p, v, t = manifest["parameters"], manifest["vision"], manifest["text"]
    return (
        f"tiny LLaVA-HF (seed {manifest['seed']}): CLIP {v['image_size']} px / patch "
        f"{v['patch_size']} ({manifest['image_tokens']} image tokens), {v['hidden_size']} wide, "
        f"{v['num_hidden_layers']} layers; Llama {t['hidden_size']} wide, "
        f"{t['num_hidden_layers']} layers, vocab {t['vocab_size']}; "
        f"{p['total'] / 1e6:.2f} M parameters (tower {p['vision_tower'] / 1e6:.2f} M, projector "
        f"{p['projector'] / 1e6:.2f} M, LLM {(p['language_model'] + p['lm_head']) / 1e6:.2f} M)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harness.demo.tiny_llava", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("out", help="the folder to write (new or empty; a finished one is reused)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument(
        "--force", action="store_true", help="replace the folder if it already holds a checkpoint"
    )
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.force and read_manifest(out) is not None:
        shutil.rmtree(out)
    try:
        folder, manifest, built = ensure(out, args.seed)
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'built' if built else 'reused'} {folder}: {describe(manifest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
