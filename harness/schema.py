"""The config schema: one typed dataclass per config group, each default written once.

The YAML files under ``conf/`` only choose values (which hub id a task reads, which checkpoint
an encoder names); every key, its type and its generic default live here. Hydra validates each
YAML file and each command-line override against these types: a key that does not exist or a
value of the wrong type is an error, never silently dropped.

``None`` in a field means "not set here": a task's ``protocol`` falls back to the run's
``protocol``; ``max_new_tokens`` to the protocol's own length; an encoder's ``select_layer``
to the checkpoint's setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Dict, List, Optional

from omegaconf import MISSING


@dataclass
class DatasetConfig:
    path: Optional[str] = None  # hub id, local snapshot folder, or (format=original) release folder
    name: Optional[str] = None  # hub config
    split: Optional[Any] = None  # hub split (POPE's Full config takes a list)
    format: str = "hub"  # hub | original
    images_name: Optional[str] = None  # GQA: hub config of the images
    image_dir: Optional[str] = None  # original layout: the image folder (GQA, OK-VQA, POPE, SEED)
    annotations: Optional[str] = None  # original layout: the annotation file inside path
    questions: Optional[str] = None  # OK-VQA original layout: the questions file
    expected_size: Optional[int] = None  # full-benchmark size (a task's own when None)
    demo: bool = False  # set by data=demo: the built-in synthetic set


@dataclass
class JudgeConfig:  # MathVista's answer extraction (docs/benchmarks.md)
    url: Optional[str] = None  # OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1
    model: Optional[str] = None  # None: the protocol's; a local folder (url None): offline judge
    api_key_env: str = "OPENAI_API_KEY"  # environment variable holding the key
    cache_dir: Optional[str] = None  # replies cached by (model, prompt); None: <cache_dir>/judge
    timeout_s: float = 60.0  # per request
    retries: int = 4  # failed requests retried, waiting backoff_s, 2x, 4x, ... (at most 60 s)
    backoff_s: float = 1.0
    max_tokens: int = 256  # the judge's reply length (lmms-eval's)
    device: Optional[str] = None  # local judge: cpu (default), cuda, npu, ...
    use_rules: bool = False  # true: this project's rules before the judge (departs from both)


@dataclass
class TaskConfig:
    name: str = MISSING  # a benchmark, or "all"
    adapter: Optional[str] = None  # a user's Task: module:Class or file.py:Class (None: built-in)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    protocol: Optional[str] = None  # None: the run's protocol
    max_new_tokens: Optional[int] = None  # None: the protocol's generation length
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # MathVista only
    names: Optional[List[str]] = None  # task=all: the benchmarks, in the paper's order
    overrides: Dict[str, Any] = field(default_factory=dict)  # task=all: per-benchmark settings


@dataclass
class EncoderConfig:
    name: str = MISSING
    label: Optional[str] = None  # the table's row label
    family: Optional[str] = None  # the paper row this encoder compares with
    arch: Optional[str] = None  # clip | siglip | unit
    path: Optional[str] = None  # hub id or folder of the encoder checkpoint
    select_layer: Optional[int] = None  # hidden state fed to the projector
    select_feature: Optional[str] = None  # patch | cls_patch
    layernorm: Optional[bool] = None  # UNIT: LayerNorm between encoder and projector
    demo: bool = False  # a tiny random-weight encoder built by the harness
    grid: Optional[List[str]] = None  # a grid: the encoders of each row


@dataclass
class ModelConfig:
    name: str = "mllm"  # mllm | oracle | replay
    # mllm
    checkpoint: Optional[str] = None  # MLLM folder; %encoder% is filled per grid row
    llm: Optional[str] = None  # composed form (or projector-only checkpoint): the LLM folder
    projector: Optional[str] = None  # composed form: projector weights
    projector_type: str = "mlp2x_gelu"  # composed form: linear | mlp<N>x_gelu
    template: Any = "vicuna_v1"  # vicuna_v1 | plain | chatml | mistral_instruct | tokenizer | {..}
    image_aspect_ratio: Optional[str] = None  # pad | resize | crop | anyres; None: checkpoint's
    image_grid_pinpoints: Any = None  # anyres grid; None: the checkpoint's
    patch_merge: Optional[str] = None  # flat | spatial | spatial_unpad; None: checkpoint's
    trust_remote_code: bool = False
    llm_type: Optional[str] = None  # transformers model_type of the LLM when a config omits it
    attn_implementation: Optional[str] = None  # eager | sdpa | flash_attention_2
    download: bool = False  # fetch hub ids missing from the Hugging Face cache
    cpu_threads: Optional[int] = None  # intra-op threads on CPU; None: torch's (demo: 1)
    feature_cache_bytes: int = 1 << 30  # image features kept for reuse; 0: none
    feature_cache_dir: Optional[str] = None  # keep image features on disk across runs
    # replay
    predictions: Optional[str] = None  # replay: predictions file (%encoder% per grid row)
    predictions_format: Optional[str] = (
        None  # replay: None|auto (detect) | jsonl | lmms-eval | vlmevalkit
    )


@dataclass
class DeviceConfig:
    type: str = "auto"  # auto | cpu | cuda | npu | mps


@dataclass
class DataConfig:
    name: str = "auto"  # auto | demo | hub | local
    root: Optional[str] = None  # demo: where the sets are built; local: ROOT/<task>/


@dataclass
class Config:
    task: TaskConfig = MISSING
    encoder: EncoderConfig = MISSING
    model: ModelConfig = MISSING
    device: DeviceConfig = MISSING
    data: DataConfig = MISSING
    protocol: str = "lmms-eval"  # every task's scoring protocol (lmms-eval | paper | ...)
    output_dir: Optional[str] = None  # None: runs/<model>-<encoder>-<task>-<data>
    dtype: str = "auto"  # auto (bf16 on accelerators, fp32 on CPU) | bf16 | fp16 | fp32
    seed: int = 0
    limit: Optional[int] = None  # evaluate only the first N samples of each task
    batch_size: Any = 16  # an integer >= 1, or auto
    num_workers: int = 1  # data-loader workers decoding and preprocessing images
    share_images: bool = True  # encode each unique image once, shared by its questions
    strict: bool = False  # exit non-zero when any sample failed
    retry_failed: bool = True  # on resume, generate failed samples again
    min_free_mb: Optional[float] = None  # free space output_dir must have to start (None: 16)
    cache_dir: str = "${oc.env:UNIT_HARNESS_CACHE,${oc.env:HOME}/.cache/unit-harness}"
    log_level: str = "INFO"
    # A saved run folder's config.yaml: every task of the job, resolved (re-runs the job as is).
    tasks: Optional[Dict[str, TaskConfig]] = None


GROUP_SCHEMAS = {
    "task": TaskConfig,
    "encoder": EncoderConfig,
    "model": ModelConfig,
    "device": DeviceConfig,
    "data": DataConfig,
}

MODEL_KEYS = {  # the model keys each model kind reads (others are refused when set)
    "mllm": {f.name for f in fields(ModelConfig)} - {"predictions", "predictions_format"},
    "oracle": {"name"},
    "replay": {"name", "predictions", "predictions_format"},
}


def register() -> None:
    """Register the schema in Hydra's ConfigStore (``config_schema`` in the primary defaults)."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name="config_schema", node=Config)


register()  # Hydra's idiom: importing the schema makes it composable


def schema_of(path: str) -> Any:
    """The dataclass type (or field type) at a dotted key path, or None when no such key.

    >>> schema_of("task.dataset.split") is not None, schema_of("task.dataset.spilt")
    (True, None)
    >>> schema_of("batch_size")
    typing.Any
    """
    node: Any = Config
    for part in path.split("."):
        if not is_dataclass(node):
            return Any if _is_mapping(node) else None
        hints = _hints(node)
        if part not in hints:
            return None
        node = hints[part]
    return node


def key_names(path: str) -> list[str]:
    """The keys that exist under a dotted path ("" = top level), for did-you-mean hints."""
    node = Config if not path else schema_of(path)
    return list(_hints(node)) if is_dataclass(node) else []


def _hints(cls: object) -> dict[str, Any]:
    import typing

    return {k: _unwrap(v) for k, v in typing.get_type_hints(cls).items()}


def _unwrap(tp: Any) -> Any:
    """Optional[X] -> X (None is allowed for every Optional field and checked by OmegaConf)."""
    import typing

    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) is typing.Union and len(args) == 1:
        return args[0]
    return tp


def _is_mapping(tp: Any) -> bool:
    import typing

    return tp is Any or typing.get_origin(tp) in (dict, Dict)
