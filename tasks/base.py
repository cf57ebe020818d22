"""The task adapter interface: load records, build requests, score one prediction, aggregate.

A task is a small class. Its YAML (``conf/task/<name>.yaml``) holds data only: where
the dataset lives, the protocol, the generation length. The logic lives here and in
:mod:`harness.metrics` (pure functions shared by tasks).

Life of a sample (the engine reads each row once: its planner keeps the document, without
image payloads, and the request for the loader and the scorer)::

    doc = task.docs()[i]                  # a dict with a unique string "id"
    req = task.build_request(doc)         # a Request (prompt, images, generation settings)
    text = model.generate([req])[0]
    rec = task.score(doc, text)           # per-sample fields: "score", "answer", breakdown keys
    metrics = task.aggregate(records)     # pure over the per-sample records

``aggregate`` sees only the records (the lines of ``predictions/<task>.jsonl``), never the
dataset, so reports and bootstrap intervals can be recomputed from saved predictions alone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import HarnessError
from harness.names import builtin_conf_dir, did_you_mean
from harness.types import GenerationSettings, Request

if TYPE_CHECKING:  # datasets ships no type information: its names read as Any
    import datasets

PROTOCOL_ALIASES = {"paper": "lmms-eval-0.2"}
"""Other names of a protocol (``task.protocol=paper``); a task records the canonical name."""
DEFAULT_MAX_NEW_TOKENS = 16
DEMO_MAX_NEW_TOKENS = 128  # demo data (``dataset.demo``): a cap unless max_new_tokens is given
LMMS_EVAL_LLAVA_DEFAULT_TOKENS = 1024
"""lmms-eval's LLaVA models generate up to 1024 new tokens when a task's YAML sets no
``max_new_tokens`` (v0.2.x and today)."""

COMMON_DATASET_KEYS = ("path", "format", "expected_size", "demo")
"""Dataset keys every task reads, whatever its layout (``demo`` is set by ``data=demo``)."""


class Task:
    name: ClassVar[str]
    label: ClassVar[str]  # the paper table's column header
    version: ClassVar[str]  # bump when the prompt, parsing or metric changes
    metric: ClassVar[str]  # key of aggregate()'s output shown in the table (in table units)
    max_value: ClassVar[float] = 100.0  # best possible value of ``metric``
    expected_size: ClassVar[int | None] = None  # full-benchmark sample count
    protocols: ClassVar[tuple[str, ...]] = ("lmms-eval",)  # first = default
    uses_judge: ClassVar[bool] = False  # reads task.judge.* (MathVista's answer extraction)
    # max_new_tokens per protocol, as that protocol's source sets it (else DEFAULT_MAX_NEW_TOKENS)
    generation_tokens: ClassVar[Mapping[str, int]] = {}
    formats: ClassVar[tuple[str, ...]] = ("hub",)  # dataset layouts the loader reads
    # Dataset keys (``task.dataset.<key>``) each layout reads; their defaults live in the task's
    # YAML only. ``dataset_keys`` (every key the class reads) is derived from these two.
    hub_keys: ClassVar[tuple[str, ...]] = ("name", "split")
    original_keys: ClassVar[tuple[str, ...]] = ("split",)
    dataset_keys: ClassVar[tuple[str, ...]] = COMMON_DATASET_KEYS + ("name", "split")
    hub_columns: ClassVar[tuple[str, ...]] = ()  # columns a hub split must have
    hub_image_columns: ClassVar[tuple[str, ...]] = ("image",)  # left undecoded (bytes)

    def __init__(self, cfg: Mapping[str, Any] | None = None):
        self.cfg: dict[str, Any] = dict(cfg or {})
        self.dataset: dict[str, Any] = dict(self.cfg.get("dataset") or {})
        requested = self.cfg.get("protocol") or self.protocols[0]
        self.protocol: str = PROTOCOL_ALIASES.get(requested, requested)  # the canonical name
        if self.protocol not in self.protocols:
            aliases = [a for a, p in PROTOCOL_ALIASES.items() if p in self.protocols]
            raise HarnessError(
                f"task {self.name}: unknown protocol {requested!r}; valid: "
                f"{', '.join((*self.protocols, *aliases))}"
            )
        fmt = self.dataset.get("format", "hub")
        if fmt not in self.formats:
            raise HarnessError(
                f"task {self.name}: unknown dataset.format {fmt!r}; "
                f"valid: {', '.join(self.formats)}"
            )
        self.warnings: list[str] = []
        self._docs: Sequence[dict[str, Any]] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keys = (*COMMON_DATASET_KEYS, *cls.hub_keys, *cls.original_keys)
        cls.dataset_keys = tuple(dict.fromkeys(keys))

    # ---- data -------------------------------------------------------------------------
    def load(self) -> Sequence[dict[str, Any]]:
        """Read the dataset named by ``self.dataset`` (path, name, split, format) into documents.

        Each document is a dict with a unique string ``id`` and its row position ``_index``;
        images are a list of :class:`ImageRef` under ``images`` (hub rows: each reads its
        cell's bytes when they are needed, see :class:`harness.tasks.loading.LazyDocs`, so a
        document can be kept without its image). Converting a row never raises:
        a malformed row keeps its id and carries ``error`` (raised as SampleError when the
        request is built). A missing or incomplete dataset raises HarnessError naming what is
        missing.
        """
        self.check_dataset_keys()
        fmt = self.dataset.get("format") or "hub"
        self.check_unused_keys(fmt)
        path = str(self.setting("path"))
        if fmt == "original":
            return self.load_original(self.dataset_path())
        from harness.tasks.loading import check_local_folder

        check_local_folder(path)  # a wrong folder is named before any other missing setting
        return self.load_hub()

    def dataset_path(self) -> Path:
        return Path(os.path.expanduser(str(self.dataset.get("path") or "")))

    def setting(self, key: str) -> Any:
        """``task.dataset.<key>``, which must be set (the task's YAML gives every default)."""
        value = self.dataset.get(key)
        if value is None or value == "":
            raise HarnessError(
                f"task {self.name}: task.dataset.{key} is not set "
                f"(format={self.dataset.get('format') or 'hub'} reads it)"
            )
        return value

    def check_dataset_keys(self) -> None:
        """One-line HarnessError for a ``task.dataset`` key this task does not read (a typo such
        as ``spilt``), with a did-you-mean. Keys set to null are allowed (a shared schema)."""
        for key, value in self.dataset.items():
            if key in self.dataset_keys or value is None:
                continue
            hint = did_you_mean(str(key), self.dataset_keys, prefix="task.dataset.")
            raise HarnessError(
                f"task {self.name}: unknown key task.dataset.{key}{hint}; "
                f"valid: {', '.join(k for k in self.dataset_keys if k != 'demo')}"
            )

    def check_unused_keys(self, fmt: str) -> None:
        """One-line HarnessError for a key the ``fmt`` layout does not read, set to something
        other than null or the task's YAML default (e.g. a hub config name with format=original)."""
        used = {"hub": self.hub_keys, "original": self.original_keys}.get(fmt, ())
        defaults = dataset_defaults(self.name)
        for key, value in self.dataset.items():
            if key in COMMON_DATASET_KEYS or key in used or value in (None, defaults.get(key)):
                continue
            raise HarnessError(
                f"task {self.name}: task.dataset.{key}={value!r} is not used with "
                f"format={fmt} (it reads: {', '.join(used)}); remove it"
            )

    def split_choice(self, choices: Mapping[str, Any], layout: str) -> Any:
        """What the configured split selects in an original layout (``choices``: split name ->
        value; the first is taken when no split is set); HarnessError naming the valid splits."""
        split = self.dataset.get("split")
        key = next(iter(choices)) if split is None else str(split)
        if key not in choices:
            raise HarnessError(
                f"task {self.name}: task.dataset.split={split!r} is not a split of "
                f"{layout} (it has: {', '.join(map(str, choices))})"
            )
        return choices[key]

    def hub_rows(
        self,
        name: str | None = None,
        split: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> datasets.Dataset:
        """The configured hub split (a ``datasets.Dataset``, images undecoded), checked to have
        ``columns`` (default ``hub_columns``); ``name``: another config than ``dataset.name``."""
        from harness.tasks.loading import load_hub_any, require_columns

        path = str(self.setting("path"))
        rows = load_hub_any(
            path,
            name or self.dataset.get("name"),
            split or self.setting("split"),
            image_columns=self.hub_image_columns,
        )
        require_columns(
            rows, self.hub_columns if columns is None else columns, f"{self.name} ({path})"
        )
        return rows

    def load_hub(self) -> Sequence[dict[str, Any]]:
        """Documents of the hub schema: ``hub_rows()`` converted lazily by
        ``self._from_hub(i, row)`` (never raising; the id from ``self._id(i, row)``)."""
        from harness.tasks.loading import LazyDocs, safe_convert

        return LazyDocs(self.hub_rows(), safe_convert(self._from_hub, self._id))  # type: ignore[attr-defined]

    def load_original(self, root: Path) -> Sequence[dict[str, Any]]:
        """Documents of the benchmark's original release layout under ``root``."""
        raise HarnessError(f"task {self.name}: no loader for the original release layout")

    def docs(self) -> Sequence[dict[str, Any]]:
        if self._docs is None:
            self._docs = self.load()
            self.check_size(len(self._docs))
        return self._docs

    def with_image_check(self, docs: list[dict[str, Any]], where: Path) -> list[dict[str, Any]]:
        """After reading an original release layout: fail when none of its image files exist
        (a wrong folder), warn when some do not (those samples fail), return the documents."""
        from harness.tasks.loading import check_image_files

        warning = check_image_files(docs, where, self.name)
        if warning:
            self.warnings.append(warning)
        return docs

    def check_size(self, n: int) -> None:
        full = self.dataset.get("expected_size") or self.expected_size
        if full and n != full and not self.dataset.get("demo"):
            self.warnings.append(
                f"{self.name}: dataset has {n} samples, the full benchmark has {full}; "
                "scores are not comparable to the paper"
            )

    # ---- requests ---------------------------------------------------------------------
    def generation(self) -> GenerationSettings:
        """Greedy decoding with the protocol's generation length (``generation_tokens``), at most
        ``DEMO_MAX_NEW_TOKENS`` on demo data (its seeded models never stop); an explicit
        ``max_new_tokens`` in the task config (default None) wins over both."""
        given = self.cfg.get("max_new_tokens")
        default = self.generation_tokens.get(self.protocol, DEFAULT_MAX_NEW_TOKENS)
        if self.dataset.get("demo"):
            default = min(default, DEMO_MAX_NEW_TOKENS)
        tokens = default if given is None else given
        if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 1:
            raise HarnessError(
                f"task {self.name}: max_new_tokens must be a positive integer, got {tokens!r}"
            )
        return GenerationSettings(max_new_tokens=tokens, stop=tuple(self.cfg.get("stop") or ()))

    def prompt(self, doc: dict[str, Any]) -> str:
        raise NotImplementedError

    def reference(self, doc: dict[str, Any]) -> str:
        """The answer the oracle gives: a string that scores the maximum."""
        raise NotImplementedError

    def build_request(self, doc: dict[str, Any]) -> Request:
        """Raise SampleError for a malformed record (a question or answer that cannot be read:
        the answer is checked here, so such a record fails before any model runs)."""
        aliases = (str(doc["_index"]),) if "_index" in doc else ()
        prompt = self.prompt(doc)
        self.reference(doc)  # validation only: the answer is never sent to a model
        return Request(
            id=doc["id"],
            prompt=prompt,
            images=list(doc.get("images", [])),
            gen=self.generation(),
            aliases=aliases,
        )

    # ---- scoring ----------------------------------------------------------------------
    def score(self, doc: dict[str, Any], prediction: str) -> dict[str, Any]:
        """Per-sample record fields: at least ``score`` (float) and ``answer`` (for display),
        plus whatever ``aggregate`` needs (category, split, pair id, parsed labels)."""
        raise NotImplementedError

    def aggregate(self, records: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Metrics over scored records, in table units; must contain ``self.metric``."""
        raise NotImplementedError

    def resample_unit(self, record: dict[str, Any]) -> str:
        """The unit a bootstrap resamples (MME: the image pair); default the sample itself."""
        unit: str = record["id"]  # a record's id is a string (Task.load)
        return unit


@functools.cache
def _yaml_dataset(name: str) -> tuple[tuple[str, Any], ...]:
    from omegaconf import OmegaConf

    path = builtin_conf_dir() / "task" / f"{name}.yaml"
    if not path.is_file():
        return ()
    data = OmegaConf.to_container(OmegaConf.load(path))
    section = data.get("dataset") or {}  # type: ignore[union-attr]
    return tuple((k, v if not isinstance(v, list) else tuple(v)) for k, v in section.items())


def dataset_defaults(name: str) -> dict[str, Any]:
    """The ``dataset`` section of task ``name``'s YAML (its one home for defaults); {} if none."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in _yaml_dataset(name)}
