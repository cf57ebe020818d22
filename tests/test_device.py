"""Device resolution: auto order, dtype defaults, one-line errors for missing backends."""

from __future__ import annotations

import pytest
import torch

from harness import device as dev
from harness.errors import HarnessError


def test_auto_on_this_machine_is_cpu_fp32():
    spec = dev.resolve_device("auto", "auto")
    assert (spec.type, spec.dtype, spec.dist_backend) == ("cpu", torch.float32, "gloo")


def test_auto_prefers_npu_then_cuda_then_mps(monkeypatch):
    monkeypatch.setitem(dev._CHECKS, "npu", lambda: (True, ""))
    monkeypatch.setitem(dev._CHECKS, "cuda", lambda: (True, ""))
    assert dev.resolve_device("auto").type == "npu"
    monkeypatch.setitem(dev._CHECKS, "npu", lambda: (False, "no"))
    spec = dev.resolve_device("auto")
    assert spec.type == "cuda" and spec.dtype == torch.bfloat16 and spec.dist_backend == "nccl"
    monkeypatch.setitem(dev._CHECKS, "cuda", lambda: (False, "no"))
    monkeypatch.setitem(dev._CHECKS, "mps", lambda: (True, ""))
    assert dev.resolve_device("auto").type == "mps"


def test_npu_missing_is_one_line_with_install_hint(monkeypatch):
    monkeypatch.setattr(dev.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(HarnessError) as exc:
        dev.resolve_device("npu")
    msg = str(exc.value)
    assert "torch_npu" in msg and "pip install" in msg and "CANN" in msg and "\n" not in msg


def test_npu_installed_without_cann_says_so(monkeypatch):
    """torch_npu present but its CANN libraries missing: a load failure, not 'not installed'."""

    def fake_import(name):
        raise ImportError("libhccl.so: cannot open shared object file")

    monkeypatch.setattr(dev.importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(dev.importlib, "import_module", fake_import)
    with pytest.raises(HarnessError) as exc:
        dev.resolve_device("npu")
    msg = str(exc.value)
    assert (
        "failed to load" in msg and "libhccl.so" in msg and "set_env.sh" in msg and "\n" not in msg
    )


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="this machine has CUDA: the missing-CUDA message cannot occur"
)
def test_cuda_missing_is_one_line():
    with pytest.raises(HarnessError) as exc:
        dev.resolve_device("cuda")
    assert "device=cuda" in str(exc.value) and "\n" not in str(exc.value)


def test_dtype_choices_and_errors():
    assert dev.resolve_device("cpu", "bf16").dtype == torch.bfloat16
    assert dev.resolve_device("cpu", "fp32").dtype_name == "fp32"
    with pytest.raises(HarnessError, match="unknown dtype 'fp8'"):
        dev.resolve_device("cpu", "fp8")
    with pytest.raises(HarnessError, match="unknown device"):
        dev.resolve_device("tpu")


def test_npu_spec_uses_npu_device_strings_and_hccl():
    spec = dev.DeviceSpec("npu", 3, torch.bfloat16)
    assert spec.device_str == "npu:3" and spec.dist_backend == "hccl" and spec.dtype_name == "bf16"
