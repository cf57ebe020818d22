"""The three MLLM checkpoint formats, each loaded into the same :class:`Parts`.

1. LLaVA code base: ``config.json`` with ``mm_*`` keys; LLM weights plus ``model.mm_projector.*``
   (or a separate ``mm_projector.bin`` for projector-only checkpoints, the LLM then from
   ``model.llm``).
2. transformers ``LlavaForConditionalGeneration`` / ``LlavaNextForConditionalGeneration`` folders.
3. Composed in config: the encoder (``encoder.path``) + ``model.projector`` file + ``model.llm``
folder.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from harness.errors import HarnessError
from harness.models import checkpoints as ck
from harness.models.anyres import parse_pinpoints
from harness.models.encoders import HFVisionEncoder, VisionEncoder, load_encoder
from harness.models.imageproc import ImageProcessing, normalize_aspect
from harness.models.projector import build_projector, infer_projector
from harness.models.towers import checkpoint_tower  # noqa: F401  (the tower a checkpoint names)
from harness.models.weights import (
    list_keys,
    load_checked,
    load_hf_llava_renamed,
    read_tensors,
    strip_prefix,
    weight_files,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel

log = logging.getLogger(__name__)
PROJ = "model.mm_projector."
TOWER = "model.vision_tower.vision_tower."


@dataclass
class Parts:
    format: str
    encoder: VisionEncoder
    projector: nn.Module
    llm: nn.Module
    tokenizer: Any
    processing: ImageProcessing
    aspect: str = "pad"
    pinpoints: tuple[tuple[int, int], ...] = ()
    merge: str = "flat"
    newline: torch.Tensor | None = None
    image_token_id: int | None = None
    paths: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)


def _opt(model_cfg: dict[str, Any], key: str, default: Any) -> Any:
    value = model_cfg.get(key)
    return default if value is None else value


def _encoder_from_tower(
    tower: str | None, folder: Path | None, encoder_cfg: dict[str, Any], model_cfg: dict[str, Any]
) -> Path:
    dl = bool(model_cfg.get("download"))
    if tower:
        p = ck.resolve_path(tower, folder, dl)
        if p is not None:
            return p
        fallback = ck.resolve_path(encoder_cfg.get("path"), None, False)
        if fallback is not None:
            log.warning(
                "vision tower %s (mm_vision_tower of %s) is not on disk; using encoder.path %s",
                tower,
                folder,
                fallback,
            )
            return fallback
        raise HarnessError(
            f"vision tower {tower} (mm_vision_tower of {folder}) is not on disk; "
            f"set encoder.path=<local folder with that checkpoint>"
        )
    return ck.require_path(
        encoder_cfg.get("path"), "encoder checkpoint", "encoder.path", download=dl
    )


def _projector(
    sd: dict[str, torch.Tensor], ptype: str | None, enc: VisionEncoder, want_ln: bool, where: str
) -> nn.Module:
    found, has_ln, in_dim, out_dim = infer_projector(sd)
    if ptype and ptype != found and not (ptype == "linear" and found == "linear"):
        raise HarnessError(
            f"{where}: projector type {ptype!r} configured, but the weights are {found!r}"
        )
    if in_dim != enc.hidden_size:
        raise HarnessError(
            f"{where}: projector input width {in_dim} != encoder width {enc.hidden_size}"
        )
    if want_ln and not has_ln:
        raise HarnessError(
            f"{where}: encoder.layernorm is true, but the projector has no LayerNorm "
            "(expected a 1-D mm_projector.0.weight)"
        )
    with torch.device("meta"):
        proj = build_projector(found, in_dim, out_dim, layernorm=has_ln)
    load_checked(proj, sd, f"projector {where}", prefix=PROJ)
    return proj


def _projector_weights(
    files: list[Path], folder: Path | None, model_cfg: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(projector tensors, other mm tensors, source) from the checkpoint, its mm_projector.bin, or
    model.projector."""
    mm = (
        read_tensors(files, lambda k: k.startswith(("model.mm_projector.", "model.image_newline")))
        if files
        else {}
    )
    if any(k.startswith(PROJ) for k in mm):
        return strip_prefix(mm, PROJ), mm, str(folder)
    for cand in (
        [folder / "mm_projector.bin", folder / "mm_projector.safetensors"] if folder else []
    ) + ([Path(str(model_cfg["projector"])).expanduser()] if model_cfg.get("projector") else []):
        if cand.is_file():
            raw = read_tensors([cand])
            sd = strip_prefix(raw, PROJ) or strip_prefix(raw, "mm_projector.") or raw
            return sd, {**mm, **raw}, str(cand)
    if model_cfg.get("projector"):
        raise HarnessError(f"projector file not found: {model_cfg['projector']}")
    raise HarnessError(
        f"{folder}: no projector weights (model.mm_projector.* or mm_projector.bin); "
        "set model.projector=<file>"
    )


def chosen(folder: Path, key: str, theirs: Any, encoder_cfg: dict[str, Any]) -> Any:
    """An encoder setting: the user's when written on the command line (``encoder_cfg
    ["explicit"]``), else the checkpoint's (how it was trained), else the encoder config's."""
    mine = encoder_cfg.get(key)
    if key in encoder_cfg.get("explicit", ()):
        if theirs is not None and theirs != mine:
            log.info(
                "%s: encoder.%s=%s as given (the checkpoint says %s)", folder, key, mine, theirs
            )
        return mine
    return mine if theirs is None else theirs


def _llava_encoder(
    folder: Path,
    cfg: dict[str, Any],
    model_cfg: dict[str, Any],
    encoder_cfg: dict[str, Any],
    dtype: torch.dtype,
    files: list[Path],
) -> tuple[VisionEncoder, Path]:
    """The encoder named by ``mm_vision_tower`` with the checkpoint's feature selection (and stored
    tower weights)."""
    enc_path = _encoder_from_tower(
        cfg.get("mm_vision_tower") or cfg.get("vision_tower"), folder, encoder_cfg, model_cfg
    )
    layer = chosen(folder, "select_layer", cfg.get("mm_vision_select_layer"), encoder_cfg)
    feature = chosen(folder, "select_feature", cfg.get("mm_vision_select_feature"), encoder_cfg)
    feature = feature or "patch"
    encoder = load_encoder(enc_path, encoder_cfg.get("arch"), layer, feature, dtype)
    tower_sd = (
        strip_prefix(read_tensors(files, lambda k: k.startswith(TOWER)), TOWER) if files else {}
    )
    if tower_sd:
        log.info(
            "%s: loading %d vision-tower tensors stored in the MLLM checkpoint",
            folder,
            len(tower_sd),
        )
        load_checked(
            encoder.model,
            _align_keys(tower_sd, encoder.model),
            f"vision tower in {folder}",
            prefix=TOWER,
        )
        encoder.model.to(dtype)
    return encoder, enc_path


def _llava_llm(
    folder: Path,
    cfg: dict[str, Any],
    model_cfg: dict[str, Any],
    dtype: torch.dtype,
    files: list[Path],
    device: torch.device | None,
) -> tuple[nn.Module, Path]:
    """The LLM stored in the folder, or ``model.llm`` for a projector-only checkpoint; and the
    tokenizer's folder."""
    trust, attn = bool(model_cfg.get("trust_remote_code")), model_cfg.get("attn_implementation")
    if files and any(ck.is_llm_key(k) for k in list_keys(files)):
        llm_cfg = ck.llm_config(folder, cfg, model_cfg.get("llm_type"), trust)
        return ck.load_llm(folder, dtype, trust, llm_cfg, attn, device), folder
    llm_path = ck.require_path(
        model_cfg.get("llm"),
        "LLM folder (projector-only checkpoint)",
        "model.llm",
        download=bool(model_cfg.get("download")),
    )
    return ck.load_llm(llm_path, dtype, trust, None, attn, device), llm_path


def load_llava(
    folder: Path,
    model_cfg: dict[str, Any],
    encoder_cfg: dict[str, Any],
    dtype: torch.dtype,
    device: torch.device | None = None,
) -> Parts:
    cfg = ck.read_config(folder)
    files = weight_files(folder)
    encoder, enc_path = _llava_encoder(folder, cfg, model_cfg, encoder_cfg, dtype, files)
    sd, mm, source = _projector_weights(files, folder, model_cfg)
    projector = _projector(
        sd, cfg.get("mm_projector_type"), encoder, bool(encoder_cfg.get("layernorm")), source
    )
    llm, tok_folder = _llava_llm(folder, cfg, model_cfg, dtype, files, device)
    aspect = normalize_aspect(
        _opt(model_cfg, "image_aspect_ratio", cfg.get("image_aspect_ratio") or "pad")
    )
    merge = _opt(model_cfg, "patch_merge", cfg.get("mm_patch_merge_type") or "flat")
    newline = mm.get("model.image_newline")
    if aspect == "anyres" and merge == "spatial_unpad" and newline is None:
        raise HarnessError(
            f"{folder}: mm_patch_merge_type=spatial_unpad needs model.image_newline in the weights"
        )
    pins = _opt(model_cfg, "image_grid_pinpoints", cfg.get("image_grid_pinpoints"))
    return Parts(
        "llava",
        encoder,
        projector,
        llm,
        ck.load_tokenizer(tok_folder, bool(model_cfg.get("trust_remote_code"))),
        _processing(encoder),
        aspect,
        tuple(parse_pinpoints(pins, _processing(encoder).square_side())) if pins else (),
        merge,
        newline.to(dtype) if newline is not None else None,
        None,
        {"checkpoint": str(folder), "encoder": str(enc_path), "llm": str(tok_folder)},
        {
            "select_layer": encoder.select_layer,
            "select_feature": encoder.select_feature,
            "projector": source,
        },
    )


def _align_keys(sd: dict[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """Tower weights saved as ``vision_model.*`` (transformers 4) for a module without that level,
    or back."""
    want = set(module.state_dict())
    if set(sd) <= want:
        return sd
    for alt in (
        {k.removeprefix("vision_model."): v for k, v in sd.items()},
        {f"vision_model.{k}": v for k, v in sd.items()},
    ):
        if set(alt) <= want:
            return alt
    return sd


def load_composed(
    model_cfg: dict[str, Any],
    encoder_cfg: dict[str, Any],
    dtype: torch.dtype,
    device: torch.device | None = None,
) -> Parts:
    dl = bool(model_cfg.get("download"))
    enc_path = _encoder_from_tower(None, None, encoder_cfg, model_cfg)
    encoder = load_encoder(
        enc_path,
        encoder_cfg.get("arch"),
        encoder_cfg.get("select_layer"),
        encoder_cfg.get("select_feature") or "patch",
        dtype,
    )
    sd, mm, source = _projector_weights([], None, model_cfg)
    projector = _projector(
        sd, model_cfg.get("projector_type"), encoder, bool(encoder_cfg.get("layernorm")), source
    )
    llm_path = ck.require_path(model_cfg.get("llm"), "LLM folder", "model.llm", download=dl)
    trust = bool(model_cfg.get("trust_remote_code"))
    llm = ck.load_llm(llm_path, dtype, trust, None, model_cfg.get("attn_implementation"), device)
    aspect = normalize_aspect(_opt(model_cfg, "image_aspect_ratio", "pad"))
    pins = model_cfg.get("image_grid_pinpoints")
    newline = mm.get("model.image_newline")
    return Parts(
        "composed",
        encoder,
        projector,
        llm,
        ck.load_tokenizer(llm_path, trust),
        _processing(encoder),
        aspect,
        tuple(parse_pinpoints(pins, _processing(encoder).square_side())) if pins else (),
        _opt(model_cfg, "patch_merge", "flat"),
        newline.to(dtype) if newline is not None else None,
        None,
        {"encoder": str(enc_path), "projector": source, "llm": str(llm_path)},
        {"select_layer": encoder.select_layer, "select_feature": encoder.select_feature},
    )


def _processing(encoder: VisionEncoder) -> ImageProcessing:
    if encoder.processing is None:
        raise HarnessError(
            f"encoder {encoder.arch}: no image preprocessing settings (preprocessor_config.json)"
        )
    return encoder.processing


def _part(model: nn.Module, name: str) -> Any:
    """A submodule or parameter of a transformers Llava model; which object owns it differs
    across transformers versions, hence the lookups (and Any: a module or a parameter)."""
    inner = getattr(model, "model", None)
    return (
        getattr(inner, name, None)
        if inner is not None and hasattr(inner, name)
        else getattr(model, name)
    )


def load_hf(
    folder: Path,
    fmt: str,
    model_cfg: dict[str, Any],
    dtype: torch.dtype,
    device: torch.device | None = None,
    encoder_cfg: dict[str, Any] | None = None,
) -> Parts:
    import transformers

    cls = (
        transformers.LlavaNextForConditionalGeneration
        if fmt == "hf_llava_next"
        else transformers.LlavaForConditionalGeneration
    )
    kwargs = dict(ck.hf_dtype_kwargs(dtype, device), output_loading_info=True)
    if model_cfg.get("attn_implementation"):
        kwargs["attn_implementation"] = model_cfg["attn_implementation"]
    with ck.quiet_transformers():
        # output_loading_info=True: (model, info), which the library's types do not say
        loaded: Any = cls.from_pretrained(str(folder), **kwargs)
    model: PreTrainedModel = loaded[0]
    info: dict[str, Any] = loaded[1]
    tied = ck._tied(model)
    if any(k not in tied for k in info.get("missing_keys", [])):  # another version's layout
        log.info("%s: weight names of another transformers version; matching them by name", folder)
        load_hf_llava_renamed(model, weight_files(folder), str(folder), tied)
        info = {**info, "missing_keys": [], "unexpected_keys": []}
    ck.check_loading_info(info, folder, tied=tied)
    nn.Module.eval(model)  # torch's (transformers leaves its eval untyped)
    cfg = model.config
    if "select_feature" in (encoder_cfg or {}).get("explicit", ()):
        raise HarnessError(
            f"{folder}: a transformers Llava folder fixes its features with "
            "vision_feature_select_strategy; encoder.select_feature cannot apply"
        )
    layer = chosen(folder, "select_layer", cfg.vision_feature_layer, encoder_cfg or {})
    if not isinstance(layer, int):
        raise HarnessError(
            f"{folder}: vision_feature_layer {layer} (several layers) is not supported"
        )
    vision_type = cfg.vision_config.model_type
    arch = "siglip" if vision_type.startswith("siglip") else "clip"
    processing = ImageProcessing.from_folder(folder, backend="transformers")  # AutoProcessor's
    encoder = HFVisionEncoder(
        _part(model, "vision_tower"),
        arch,
        layer,
        "patch",
        processing,
        has_cls=cfg.vision_feature_select_strategy == "default",
    )
    do_pad = bool(getattr(processing.reference, "do_pad", False))  # LlavaImageProcessor's pad
    default_aspect = "anyres" if fmt == "hf_llava_next" else ("pad" if do_pad else "crop")
    aspect = normalize_aspect(_opt(model_cfg, "image_aspect_ratio", default_aspect))
    pins = _opt(model_cfg, "image_grid_pinpoints", getattr(cfg, "image_grid_pinpoints", None))
    # transformers lists pin-points as [height, width]
    pinpoints = (
        tuple((w, h) for h, w in pins)
        if pins and not isinstance(pins, str)
        else tuple(parse_pinpoints(pins, processing.square_side()))
        if pins
        else ()
    )
    newline = getattr(
        _part(model, "image_newline") if fmt == "hf_llava_next" else None, "data", None
    )
    return Parts(
        fmt,
        encoder,
        _part(model, "multi_modal_projector"),
        model,
        ck.load_tokenizer(folder),
        processing,
        aspect,
        pinpoints,
        "spatial_unpad" if fmt == "hf_llava_next" else "flat",
        newline,
        int(cfg.image_token_id),
        {"checkpoint": str(folder)},
        {
            "select_layer": layer,
            "vision_feature_select_strategy": cfg.vision_feature_select_strategy,
        },
    )
