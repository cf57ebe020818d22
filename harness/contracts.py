"""The interfaces between the engine, models and tasks, in one module.

A **task** (:class:`TaskProtocol`, implemented by :class:`tasks.base.Task`) turns dataset
records into requests and scores predictions. A **model** (:class:`ModelProtocol`, implemented
by :class:`harness.models.base.Model`, which gives every optional capability its "not offered"
default) turns requests into texts. The engine reads only what is declared here: it never
probes an object for an attribute.

Capabilities a model may offer, each declared with its "not offered" value:

========================  ==========================================================  ==========
capability                what it means                                               off
========================  ==========================================================  ==========
``batch_size``            the most requests per forward call; the engine sets it      ``None``
                          when ``batch_size=auto`` finds the largest that fits
``can_share_images``      encodes each distinct image once and decodes the            ``False``
                          questions about one image from one shared prefix (KV)
``share_images``          whether it does so now (set by the engine)                  ``False``
``preprocessor``          a picklable ``request -> prepared input``, run in           ``None``
                          DataLoader workers, with ``generate_prepared(batch)``
``size_key``              a request's cost, to batch similar sizes together           ``None``
``bind_task(task)``       told which task comes next (replay's task-qualified ids,    no-op
                          the oracle's references); called by the engine
``check_tasks(tasks)``    validates itself against the run's datasets before work     no-op
``device``                where it runs (pinned memory on accelerators)               ``None``
``timings``/``profile``   seconds and counts per step, summed; ``profile`` syncs the  ``{}``
                          device around each step
``decode_module()``       the language model module a benchmark hooks to count rows   ``None``
``counters()``            what it did, summed (images encoded, tokens, seconds per    ``{}``
                          step, cache entries/bytes/hits), recorded in meta.json
========================  ==========================================================  ==========

Every model has ``name``, ``generate(requests)``, ``fingerprint()`` (part of the resume key)
and ``describe()`` (meta.json).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from harness.errors import SampleError
from harness.types import GenerationSettings, Request

if TYPE_CHECKING:
    import torch

    from harness.device import DeviceSpec

Output = str | SampleError
"""One request's answer: the text, or the reason it could not be served."""
Doc = dict[str, Any]
"""A dataset record as a task reads it: a unique string ``id``, ``_index``, ``images``..."""
Record = dict[str, Any]
"""A scored sample: a line of ``predictions/<task>.jsonl``."""
SizeKey = tuple[int, ...]
PreparedInput = Any
"""A model's own prepared input (tensors, token ids): opaque to the engine, which only moves it
from the workers to ``generate_prepared``."""
Prepare = Callable[[Request], PreparedInput]


@runtime_checkable
class TaskProtocol(Protocol):
    """What the engine, the models and the reports read of a task (see :mod:`tasks.base`)."""

    # read-only here: a Task declares these on its class (ClassVar)
    @property
    def name(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def version(self) -> str: ...

    @property
    def metric(self) -> str: ...

    protocol: str
    dataset: dict[str, Any]
    warnings: list[str]

    def docs(self) -> Sequence[Doc]: ...

    def prompt(self, doc: Doc) -> str: ...

    def reference(self, doc: Doc) -> str: ...

    def generation(self) -> GenerationSettings: ...

    def build_request(self, doc: Doc) -> Request: ...

    def score(self, doc: Doc, prediction: str) -> dict[str, Any]: ...

    def aggregate(self, records: Sequence[Record]) -> dict[str, Any]: ...

    def resample_unit(self, record: Record) -> str: ...


@runtime_checkable
class ModelProtocol(Protocol):
    """What the engine and the runner read of a model; the capabilities in the module's table."""

    name: str
    batch_size: int | None
    can_share_images: bool
    share_images: bool
    preprocessor: Prepare | None
    size_key: Callable[[Request], SizeKey] | None
    device: DeviceSpec | None
    timings: dict[str, float]
    profile: bool

    def generate(self, requests: Sequence[Request]) -> list[Output]: ...

    def generate_prepared(self, batch: Sequence[PreparedInput]) -> list[Output]: ...

    def bind_task(self, task: TaskProtocol) -> None: ...

    def check_tasks(self, tasks: Sequence[TaskProtocol], limit: int | None = None) -> None: ...

    def fingerprint(self) -> dict[str, Any]: ...

    def describe(self) -> dict[str, Any]: ...

    def counters(self) -> dict[str, Any]: ...

    def start_cold(self) -> None: ...

    def decode_module(self) -> torch.nn.Module | None: ...


def capabilities(model: ModelProtocol) -> Mapping[str, bool]:
    """Which optional capabilities ``model`` offers (for logs and docs).

    >>> from harness.models.oracle import OracleModel
    >>> dict(capabilities(OracleModel()))["image_sharing"]
    False
    """
    return {
        "batching": model.batch_size is not None,
        "image_sharing": model.can_share_images,
        "worker_preprocessing": model.preprocessor is not None,
        "size_key": model.size_key is not None,
        "device": model.device is not None,
    }
