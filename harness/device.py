"""Devices in one place: cpu, cuda, npu (Ascend, through torch_npu), mps; dtype; autocast.

torch is imported on first use, not with this module: a run that computes nothing (the oracle,
replay) on ``device=cpu`` never loads it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

DTYPE_NAMES = ("fp32", "bf16", "fp16")
_TORCH_DTYPES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}


def torch_dtype(name: str) -> torch.dtype:
    """The torch dtype of ``fp32``, ``bf16`` or ``fp16`` (imports torch)."""
    import torch

    dtype: torch.dtype = getattr(torch, _TORCH_DTYPES[name])
    return dtype


def dtype_name(dtype: Any) -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a name or a torch dtype.

    >>> dtype_name("bf16")
    'bf16'
    """
    if isinstance(dtype, str) and dtype in _TORCH_DTYPES:
        return dtype
    text = str(dtype).removeprefix("torch.")
    for name, attr in _TORCH_DTYPES.items():
        if text == attr:
            return name
    raise HarnessError(f"unknown dtype {dtype!r}; valid: {', '.join(DTYPE_NAMES)}")


DEVICE_TYPES = ("auto", "cpu", "cuda", "npu", "mps")
DIST_BACKENDS = {"cpu": "gloo", "cuda": "nccl", "npu": "hccl", "mps": "gloo"}


def npu_available() -> tuple[bool, str]:
    """Whether an Ascend NPU is usable, and if not, why (one line)."""
    if importlib.util.find_spec("torch_npu") is None:
        return False, (
            "device=npu needs torch_npu, which is not installed; "
            "install Huawei's CANN toolkit, then `pip install 'unit-harness[npu]'`"
        )
    try:
        importlib.import_module("torch_npu")
    except Exception as exc:  # torch_npu present but CANN libraries missing or mismatched
        first = str(exc).splitlines()[0] if str(exc) else ""
        return False, (
            f"device=npu: torch_npu is installed but failed to load ({type(exc).__name__}: "
            f"{first}); "
            "install CANN and source its set_env.sh"
        )
    import torch

    npu = getattr(torch, "npu", None)
    if npu is None or not npu.is_available():
        return (
            False,
            "device=npu: torch_npu is installed but no NPU is visible (check CANN drivers and "
            "ASCEND_RT_VISIBLE_DEVICES)",
        )
    return True, ""


def cuda_available() -> tuple[bool, str]:
    import torch

    if torch.cuda.is_available():
        return True, ""
    why = (
        "this PyTorch build has no CUDA support"
        if torch.version.cuda is None
        else "no CUDA device is visible"
    )
    return False, f"device=cuda: {why}; install a CUDA build of torch or use device=cpu"


def mps_available() -> tuple[bool, str]:
    import torch

    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return True, ""
    return (
        False,
        "device=mps: Apple's Metal backend is not available on this machine; use device=cpu",
    )


_CHECKS = {"npu": npu_available, "cuda": cuda_available, "mps": mps_available}


@dataclass(frozen=True, init=False)
class DeviceSpec:
    """Where a run computes and in which dtype. The dtype is kept by name (``fp32``...): the
    torch dtype (:attr:`dtype`) imports torch when first read."""

    type: str  # cpu | cuda | npu | mps
    index: int | None
    dtype_name: str  # fp32 | bf16 | fp16

    def __init__(self, type: str, index: int | None, dtype: Any) -> None:
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "dtype_name", dtype_name(dtype))

    @property
    def dtype(self) -> torch.dtype:
        return torch_dtype(self.dtype_name)

    @property
    def device_str(self) -> str:
        """``cpu``, ``cuda:0``, ``npu:3``: the string ``.to()`` takes (``npu`` once torch_npu is
        imported)."""
        return self.type if self.index is None else f"{self.type}:{self.index}"

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device(self.device_str)

    @property
    def dist_backend(self) -> str:
        return DIST_BACKENDS[self.type]

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        """Autocast for the compute dtype on accelerators (torch_npu registers the ``npu`` type)."""
        if self.type == "cpu" or self.dtype_name == "fp32":
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=self.type, dtype=self.dtype)

    def synchronize(self) -> None:
        if self.type in ("cuda", "npu", "mps"):
            import torch

            getattr(torch, self.type).synchronize()

    def peak_memory(self) -> int | None:
        if self.type in ("cuda", "npu"):
            import torch

            return int(getattr(torch, self.type).max_memory_allocated())
        return None


def resolve_device(kind: str = "auto", dtype: str = "auto", index: int | None = None) -> DeviceSpec:
    """Pick the device (auto: npu, then cuda, then mps, then cpu) and the compute dtype.

    ``dtype=auto`` is bf16 on accelerators and fp32 on CPU. A requested device that is not
    usable raises HarnessError with one line saying what is missing.
    """
    if kind not in DEVICE_TYPES:
        raise HarnessError(f"unknown device {kind!r}; valid: {', '.join(DEVICE_TYPES)}")
    if kind == "auto":
        kind = next((k for k in ("npu", "cuda", "mps") if _CHECKS[k]()[0]), "cpu")
    elif kind != "cpu":
        ok, why = _CHECKS[kind]()
        if not ok:
            raise HarnessError(why)
    if dtype == "auto":
        dtype = "fp32" if kind == "cpu" else "bf16"
    if dtype not in DTYPE_NAMES:
        raise HarnessError(f"unknown dtype {dtype!r}; valid: auto, {', '.join(DTYPE_NAMES)}")
    if kind == "cpu" and dtype == "fp16":
        log.warning("fp16 on CPU is slow and inexact; bf16 or fp32 is recommended")
    if kind == "npu" and dtype == "fp16":
        log.warning("Ascend NPUs are usually run in bf16; fp16 requested")
    return DeviceSpec(kind, index if kind != "cpu" else None, dtype)
