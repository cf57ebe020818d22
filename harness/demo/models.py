"""Demo MLLMs: tiny models from a fixed seed, fit to the demo sets, in the real on-disk formats.

For each demo encoder (CLIP-L-, SigLIP-, UNIT-600M- and UNIT-1B-shaped) this writes, under
``<cache>/demo/models/v<N>/<name>/``:

- ``encoder/``: a transformers CLIP/SigLIP vision checkpoint, or a UNIT checkpoint (``config.json``
  with ``args``, ``model.safetensors`` with the released key names), plus
  ``preprocessor_config.json``;
- ``mllm/``: a LLaVA code-base folder (``config.json`` with ``mm_vision_tower: ../encoder`` and
  the demo encoder's name under ``harness_demo_encoder``, read by ``checkpoint_tower``), Llama
  weights + ``model.mm_projector.*`` + ``model.image_newline``, a BPE tokenizer built with the
  ``tokenizers`` library).

The LLM and projector are then fit to the demo sets through the harness's own loading and
preprocessing path (:mod:`harness.demo.fit`: seeded, deterministic, one CPU thread), so the demo
models answer many demo questions right and their predictions move when anything on the model
path changes. They are loaded back by :func:`harness.models.mllm.load_mllm` through the same
code as real checkpoints. Building is idempotent, atomic (temp folder, then rename) and gives
the same bytes every time.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import torch

from harness.demo.hub import build_once
from harness.errors import HarnessError
from harness.models.towers import DEMO_KEY

# bump to rebuild every cached demo model (2: the demo-encoder marker; 3: fit to the demo sets)
DEMO_MODELS_VERSION = "3"
RESIDUAL_GAIN = 4.0  # CLIP/SigLIP demo towers: residual branches scaled up at init
IMAGE = 56  # demo input side: a 4 x 4 grid of 14-px patches
PINPOINTS = [[56, 112], [112, 56], [112, 112]]  # anyres grid (LLaVA order: width, height)
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}USER: {{ m['content'] }} "
    "{% else %}ASSISTANT: {{ m['content'] }}</s>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
_WORDS = """yes no A B C D E F 0 1 2 3 4 5 6 7 8 9 10 100 one two three four five six seven \
eight nine ten
the a an of in on at to is are was were what which who where when how many much color colour shape
red green blue yellow black white orange purple gray brown pink circle square triangle star cross
left right top bottom above below there image picture photo chart document table page text title
number value answer question option letter choice single word phrase given choices directly from
Answer the question using a single word or phrase. Answer with the option's letter from the \
given choices directly.
Is there a in the image? Please answer yes or no. What is the value of the largest bar?
A chat between a curious human and an artificial intelligence assistant.
The assistant gives helpful, detailed, and polite answers to the human's questions. USER: ASSISTANT:
total sum year percent % $ . , : ; ? ! ' " ( ) - + = / dog cat car person tree house sky""".split(
    "\n"
)
_DEMO_SPECS: dict[str, dict[str, Any]] = {  # arch-specific shapes; every encoder is 32 wide
    "clip": {
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
    "siglip": {
        "hidden_size": 32,
        "num_hidden_layers": 3,
        "num_attention_heads": 2,
        "intermediate_size": 64,
    },
    "unit_600m": {
        "model": "vit_huge_patch14_224",
        "model_kwargs": {"embed_dim": 32, "depth": 2, "num_heads": 2},
    },
    # a stand-in name timm does not know, like the release's own registered 1B variant;
    # built with fc_norm
    "unit_1b": {
        "model": "vit_huge_patch14_224_1b",
        "gp": "avg",
        "model_kwargs": {"embed_dim": 32, "num_heads": 2},
    },
}


def _seed(name: str) -> int:
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def build_tokenizer(folder: Path) -> None:
    """A SentencePiece-style BPE tokenizer (``▁`` marks spaces) over a small built-in vocabulary.

    Trained with the ``tokenizers`` library on the demo's word list; printable ASCII is always in
    the vocabulary, other characters map to ``<unk>``. Saved so ``AutoTokenizer`` loads it.
    """
    import string

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    alphabet = sorted(set(string.printable.strip()) | {"\u2581", "\n"})
    trainer = trainers.BpeTrainer(
        vocab_size=420, special_tokens=SPECIALS, show_progress=False, initial_alphabet=alphabet
    )
    tok.train_from_iterator(_WORDS * 3, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,  # type: ignore[no-untyped-call]
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        additional_special_tokens=["<image>"],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(str(folder))


def _image_processor(kind: str, normalize: bool = True) -> dict[str, Any]:
    if kind == "siglip":
        return {
            "image_processor_type": "SiglipImageProcessor",
            "do_resize": True,
            "size": {"height": IMAGE, "width": IMAGE},
            "resample": 3,
            "do_rescale": True,
            "rescale_factor": 1 / 255,
            "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5],
            "image_std": [0.5, 0.5, 0.5],
            "do_convert_rgb": True,
        }
    return {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": IMAGE},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": IMAGE, "width": IMAGE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": normalize,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "do_convert_rgb": True,
    }


def build_encoder(kind: str, folder: Path) -> int:
    """Write a tiny encoder checkpoint of ``kind`` (clip, siglip, unit_600m, unit_1b); returns its
    width."""
    spec = _DEMO_SPECS[kind]
    if kind in ("clip", "siglip"):
        import transformers

        cfg_cls: Any = (
            transformers.CLIPVisionConfig if kind == "clip" else transformers.SiglipVisionConfig
        )
        model_cls: Any = (
            transformers.CLIPVisionModel if kind == "clip" else transformers.SiglipVisionModel
        )
        model = model_cls(cfg_cls(image_size=IMAGE, patch_size=14, **spec))
        with torch.no_grad():  # each layer moves the features well away from the last one's, so
            for key, weight in model.named_parameters():  # a feature-layer mix-up changes answers
                if key.endswith(("out_proj.weight", "fc2.weight")):
                    weight.mul_(RESIDUAL_GAIN)
        model.save_pretrained(str(folder))
        width = spec["hidden_size"]
    else:
        from harness.models.unit import UNITModel

        args = {
            "model": spec["model"],
            "model_kwargs": {**spec["model_kwargs"], "weight_init": "skip"},
            "num_classes": None,
            "gp": spec.get("gp"),
            "drop": 0.0,
            "drop_path": None,
            "drop_block": None,
            "bn_momentum": None,
            "bn_eps": None,
            "in_chans": None,
            "pretrained": False,
            "torchscript": False,
            "initial_checkpoint": "",
            "cpe_max_size": 2 * IMAGE,
            "num_cls_tokens": 1,
            "register_multiple": 4,
        }
        UNITModel(args, depth=3 if kind == "unit_1b" else None).save_pretrained(folder)
        width = spec["model_kwargs"]["embed_dim"]
    processor = _image_processor(
        "siglip" if kind == "siglip" else "clip", normalize=not kind.startswith("unit")
    )
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return int(width)


def build_mllm(
    folder: Path, encoder_width: int, encoder_cfg: dict[str, Any], tower: str = "../encoder"
) -> None:
    """A LLaVA code-base folder: tiny Llama + projector (+ LayerNorm for UNIT) + image_newline +
    tokenizer."""
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from harness.models.projector import build_projector

    folder.mkdir(parents=True, exist_ok=True)
    build_tokenizer(folder)
    vocab = len(AutoTokenizer.from_pretrained(str(folder)))
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
        tie_word_embeddings=False,
    )
    llm = LlamaForCausalLM(cfg)
    proj = build_projector(
        "mlp2x_gelu", encoder_width, 64, layernorm=bool(encoder_cfg.get("layernorm"))
    )
    sd = {k: v for k, v in llm.state_dict().items()}
    sd.update({f"model.mm_projector.{k}": v for k, v in proj.state_dict().items()})
    sd["model.image_newline"] = torch.randn(64) * 0.02
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "model.safetensors"))
    config = cfg.to_dict()
    config.update(
        {
            "model_type": "llava_llama",
            "architectures": ["LlavaLlamaForCausalLM"],
            "mm_vision_tower": tower,
            "mm_hidden_size": encoder_width,
            "mm_projector_type": "mlp2x_gelu",
            "mm_vision_select_layer": int(encoder_cfg.get("select_layer", -2)),
            "mm_vision_select_feature": encoder_cfg.get("select_feature", "patch"),
            "image_aspect_ratio": "anyres",
            "image_grid_pinpoints": PINPOINTS,
            "mm_patch_merge_type": "spatial_unpad",
            "mm_use_im_start_end": False,
            "mm_use_im_patch_token": False,
            "tokenizer_model_max_length": 2048,
            DEMO_KEY: str(encoder_cfg.get("name") or "demo"),
        }
    )  # checkpoint_tower's answer
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))


def demo_kind(encoder_cfg: dict[str, Any]) -> str:
    arch, family = (
        encoder_cfg.get("arch"),
        str(encoder_cfg.get("family") or encoder_cfg.get("name", "")),
    )
    if arch == "unit":
        return "unit_1b" if "1b" in family else "unit_600m"
    if arch in ("clip", "siglip"):
        return str(arch)
    raise HarnessError(
        f"demo encoder {encoder_cfg.get('name')!r}: unknown arch {arch!r}; "
        "valid: clip, siglip, unit"
    )


def ensure_demo_checkpoint(
    encoder_cfg: dict[str, Any], cache_dir: Path, fit_steps: int | None = None
) -> Path:
    """The demo MLLM folder (LLaVA code-base format) for ``encoder_cfg``, built and fit to the
    demo sets (under ``<cache_dir>/demo/data``) on first use; ``fit_steps`` (tests) overrides
    the number of training steps, and is part of the folder's key."""
    kind, name = demo_kind(encoder_cfg), str(encoder_cfg.get("name") or "demo")
    # the folder is keyed by every setting written into it, so a run with other settings never
    # finds (or leaves behind) a checkpoint that disagrees with its own config
    written = {k: encoder_cfg.get(k) for k in ("select_layer", "select_feature", "layernorm")}
    from harness.demo.data import DEMO_VERSION
    from harness.demo.fit import FIT_STEPS, fit_checkpoint
    from harness.fingerprint import obj_fingerprint

    written["demo_data"] = DEMO_VERSION  # the sets it is fit to
    steps = FIT_STEPS if fit_steps is None else int(fit_steps)
    if steps != FIT_STEPS:
        written["fit_steps"] = steps
    target = (
        Path(cache_dir)
        / "demo"
        / "models"
        / f"v{DEMO_MODELS_VERSION}"
        / f"{name}-{obj_fingerprint(written)[:8]}"
    )

    def build(tmp: Path) -> None:
        from harness.models.checkpoints import quiet_transformers

        with torch.random.fork_rng(devices=[]), quiet_transformers():
            torch.manual_seed(_seed(name))
            width = build_encoder(kind, tmp / "encoder")
            build_mllm(tmp / "mllm", width, encoder_cfg)
            data = Path(cache_dir) / "demo" / "data"  # the sets data=demo evaluates
            fit_checkpoint(tmp / "mllm", encoder_cfg, data, _seed(name), steps)

    return build_once(target, build) / "mllm"


def demo_cfg(
    encoder_cfg: dict[str, Any], cache_dir: Path, model_cfg: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``model_cfg`` with ``checkpoint`` set to the demo encoder's MLLM folder (built on first
    use): how the runner (and tests) load a demo MLLM through :func:`load_mllm` like any other."""
    return dict(model_cfg or {}, checkpoint=str(ensure_demo_checkpoint(encoder_cfg, cache_dir)))
