"""Finding checkpoints and loading their language-model parts (LLM, tokenizer) without surprises.

Paths may be local folders or hub ids already in the Hugging Face cache; with
``model.download=true`` a missing hub id is downloaded. Loading uses the target dtype and
transformers' low-memory path, so no fp32 copy of a 7B LLM is ever materialised; missing LLM
weights are an error, never a silent random init.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import HarnessError
from harness.models.templates import Tokenizer

if TYPE_CHECKING:
    from transformers import PretrainedConfig

log = logging.getLogger(__name__)

# model_type of LLaVA code-base configs -> the transformers model_type of their LLM
LLAVA_LLM_TYPES = {
    "llava_llama": "llama",
    "llava_mistral": "mistral",
    "llava_mixtral": "mixtral",
    "llava_qwen": "qwen2",
    "llava_qwen2": "qwen2",
    "llava_qwen3": "qwen3",
    "llava_gemma": "gemma",
    "llava_phi3": "phi3",
    "llava_mpt": "mpt",
}
_NON_LLM_PREFIXES = (
    "model.mm_projector.",
    "model.vision_tower.",
    "model.image_newline",
    "model.vision_resampler.",
)


def read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        raise HarnessError(f"{folder}: config.json not found")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HarnessError(f"{path}: invalid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a JSON object")
    return data


def resolve_path(name: str | None, base: Path | None = None, download: bool = False) -> Path | None:
    """A local folder for ``name``: as given, relative to ``base``, in the HF cache, or
    downloaded."""
    if not name:
        return None
    p = Path(str(name)).expanduser()
    if p.is_dir():
        return p.resolve()
    if base is not None and not p.is_absolute() and (base / p).is_dir():
        return (base / p).resolve()
    if p.is_absolute() or str(name).startswith((".", "~")) or str(name).count("/") != 1:
        return None  # not a hub id
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(str(name), local_files_only=not download))
    except Exception as exc:  # not cached, offline, unknown repo
        log.debug("hub id %s not available: %s", name, exc)
        return None


def require_path(
    name: str | None, what: str, key: str, base: Path | None = None, download: bool = False
) -> Path:
    p = resolve_path(name, base, download)
    if p is None:
        raise HarnessError(
            f"{what} not found: {name} (set {key}=<local folder>, or model.download=true for a hub "
            "id)"
        )
    return p


def detect_format(folder: Path) -> str:
    """``llava`` (LLaVA code base), ``hf_llava`` or ``hf_llava_next`` from the folder's
    config.json."""
    cfg = read_config(folder)
    mt = cfg.get("model_type")
    if mt == "llava":
        return "hf_llava"
    if mt == "llava_next":
        return "hf_llava_next"
    if "mm_vision_tower" in cfg or "mm_projector_type" in cfg or "mm_hidden_size" in cfg:
        return "llava"
    raise HarnessError(
        f"{folder}/config.json: not an MLLM checkpoint (model_type {mt!r}, no mm_vision_tower); "
        "expected a LLaVA code-base folder or a transformers Llava/LlavaNext folder"
    )


def hf_dtype_kwargs(dtype: torch.dtype, device: torch.device | None = None) -> dict[str, Any]:
    """``from_pretrained`` arguments: weights read straight into ``dtype`` (never an fp32 copy), and
    onto an accelerator directly when ``accelerate`` is installed (else loaded on CPU, then
    moved)."""
    import importlib.util

    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    kw: dict[str, Any] = {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}
    has_accelerate = importlib.util.find_spec("accelerate") is not None
    if has_accelerate and major < 5:
        kw["low_cpu_mem_usage"] = True
    if has_accelerate and device is not None and device.type != "cpu":
        kw["device_map"] = {"": str(device)}
    return kw


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (we report keys ourselves)."""
    from transformers.utils import logging as transformers_logging

    tlog: Any = transformers_logging  # its progress-bar helpers are untyped

    level = tlog.get_verbosity()
    tlog.set_verbosity_error()
    bars = tlog.is_progress_bar_enabled()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()


def llm_config(
    folder: Path, cfg: dict[str, Any], llm_type: str | None, trust_remote_code: bool
) -> PretrainedConfig:
    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    if cfg.get("auto_map") and trust_remote_code and not llm_type:
        remote: PretrainedConfig = AutoConfig.from_pretrained(str(folder), trust_remote_code=True)
        return remote
    mt = str(cfg.get("model_type", ""))
    base = llm_type or LLAVA_LLM_TYPES.get(mt) or mt.removeprefix("llava_")
    if base not in CONFIG_MAPPING:
        raise HarnessError(
            f"{folder}/config.json: cannot tell the LLM type from model_type {mt!r}; "
            "set model.llm_type (e.g. llama, qwen2, mistral) or model.trust_remote_code=true"
        )
    rest = {
        k: v
        for k, v in cfg.items()
        if k not in ("model_type", "architectures", "auto_map", "transformers_version")
    }
    return AutoConfig.for_model(base, **rest)


def load_llm(
    folder: Path,
    dtype: torch.dtype,
    trust_remote_code: bool = False,
    config: PretrainedConfig | None = None,
    attn_implementation: str | None = None,
    device: torch.device | None = None,
) -> torch.nn.Module:
    """A causal LM from ``folder`` (weights in ``dtype``); missing weights raise HarnessError."""
    from transformers import AutoModelForCausalLM

    kwargs = dict(
        hf_dtype_kwargs(dtype, device),
        trust_remote_code=trust_remote_code,
        output_loading_info=True,
    )
    if config is not None:
        kwargs["config"] = config
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    try:
        with quiet_transformers():
            # output_loading_info=True: (model, info), which the library's types do not say
            loaded: Any = AutoModelForCausalLM.from_pretrained(str(folder), **kwargs)
        model: torch.nn.Module = loaded[0]
        info: dict[str, Any] = loaded[1]
    except (OSError, ValueError) as exc:
        raise HarnessError(
            f"{folder}: cannot load the LLM ({str(exc).strip().splitlines()[0]})"
        ) from None
    check_loading_info(info, folder, tied=_tied(model))
    return model.eval()


def _tied(model: torch.nn.Module) -> set[str]:
    tied = getattr(model, "_tied_weights_keys", None) or {}
    return set(tied if isinstance(tied, (list, set, tuple)) else tied.keys())


def check_loading_info(
    info: dict[str, Any], folder: Path, tied: AbstractSet[str] = frozenset()
) -> None:
    missing = [k for k in info.get("missing_keys", []) if k not in tied]
    if missing:
        shown = ", ".join(sorted(missing)[:6])
        raise HarnessError(
            f"{folder}: LLM weights missing for {len(missing)} keys ({shown}); refusing a random "
            "init"
        )
    mism = info.get("mismatched_keys") or []
    if mism:
        raise HarnessError(f"{folder}: mis-shaped LLM weights: {mism[:3]}")
    extra = [k for k in info.get("unexpected_keys", []) if not k.startswith(_NON_LLM_PREFIXES)]
    if extra:
        log.warning(
            "%s: %d checkpoint keys not used by the LLM (e.g. %s)", folder, len(extra), extra[0]
        )


def is_llm_key(key: str) -> bool:
    return not key.startswith(_NON_LLM_PREFIXES)


def load_tokenizer(folder: Path, trust_remote_code: bool = False) -> Tokenizer:
    from transformers import AutoTokenizer

    try:
        with quiet_transformers():
            return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    except (OSError, ValueError, KeyError) as exc:
        raise HarnessError(
            f"{folder}: cannot load the tokenizer ({str(exc).strip().splitlines()[0]})"
        ) from None


def eos_ids(tokenizer: Tokenizer, model: torch.nn.Module, stops: tuple[str, ...] = ()) -> set[int]:
    """EOS of the tokenizer and of the generation config, plus stop strings that are single special
    tokens."""
    ids: set[int] = set()
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    gen = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(int(i) for i in (gen if isinstance(gen, (list, tuple)) else [gen]) if i is not None)
    special = set(getattr(tokenizer, "all_special_tokens", []) or []) | set(
        tokenizer.get_added_vocab()
    )
    for s in stops:
        if s in special:
            ids.add(int(tokenizer.convert_tokens_to_ids(s)))
    return ids
