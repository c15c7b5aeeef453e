"""int8: dynamic quantization of the Linear layers (int8 weights, activations quantized per call).

Two APIs, and this torch says which one to use. ``torch.ao.quantization`` warns on import that it
"is deprecated and will be removed in 2.10" (the warning still fires in torch 2.14) and points
eager-mode dynamic quantization to torchao's ``quantize_``. So:

* ``int8_dynamic`` uses the maintained successor, torchao
  (``quantize_(model, Int8DynamicActivationInt8WeightConfig())``), when it is installed; without
  torchao it falls back to ``torch.ao.quantization.quantize_dynamic`` and records that fallback in
  ``api_fallback`` (so a result never silently changes API).
* ``int8_dynamic_legacy`` always uses ``torch.ao.quantization.quantize_dynamic`` (fbgemm kernels;
  per-channel weight scales), recording the deprecation status in ``notes``.

Measured on this CPU (2 cores, 64 px): torch.ao's kernels run ViT-tiny and Swin-tiny about 2x
faster than fp32 eager, while torchao's int8 tensors run at eager speed or slower unless the model
is also compiled (``int8_dynamic+compile``), which is how torchao is meant to be used.

TensorRT int8 is not offered: torch-tensorrt's dynamo path takes int8 only from models quantized
with NVIDIA ModelOpt (calibrated fake-quant nodes), which needs a calibration set and the TensorRT
libraries, neither of which exists here.
"""

from __future__ import annotations

import importlib.util
import warnings

import torch
from torch import nn

from vbench.metrics.fallbacks import note_fallback
from vbench.optimizations.plan import Executable, OptContext, Stage, register_optimization

__all__ = ["int8_dynamic", "int8_dynamic_legacy", "torch_ao_deprecation", "quantize_torch_ao", "quantize_torchao"]


def torch_ao_deprecation() -> str | None:
    """First line of the deprecation warning this torch gives for torch.ao.quantization, or None."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.ao.quantization.quantize_dynamic(nn.Sequential(nn.Linear(2, 2)), {nn.Linear}, dtype=torch.qint8)
    for w in caught:
        text = str(w.message).strip()
        if issubclass(w.category, (DeprecationWarning, FutureWarning, UserWarning)) and "deprecat" in text.lower():
            return text.splitlines()[0].strip()
    return None


def quantize_torch_ao(module: nn.Module) -> nn.Module:
    """``torch.ao.quantization.quantize_dynamic`` of every Linear, per-channel int8 weights."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    return quantize_dynamic(module, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def quantize_torchao(module: nn.Module) -> nn.Module:
    """torchao ``quantize_`` with int8 dynamic activations and int8 weights on every Linear."""
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_

    quantize_(module, Int8DynamicActivationInt8WeightConfig())
    return module


def _legacy(exe: Executable) -> Executable:
    exe.module = quantize_torch_ao(exe.module)
    exe.notes.update(int8_api="torch.ao.quantization.quantize_dynamic", int8_deprecation=torch_ao_deprecation())
    return exe


@register_optimization("int8_dynamic", stage=Stage.CAST, devices=("cpu",), modes=("inference",), precision="int8")
def int8_dynamic(exe: Executable, ctx: OptContext) -> Executable:
    """Dynamic int8 Linear layers with torchao (maintained); torch.ao fallback recorded if torchao is missing."""
    if importlib.util.find_spec("torchao") is None:
        note_fallback(exe, "api_fallback", "torch.ao.quantization (deprecated): torchao not installed "
                                           "(pip install torchao)")
        return _legacy(exe)
    exe.module = quantize_torchao(exe.module)
    import torchao

    exe.notes.update(int8_api=f"torchao {torchao.__version__} Int8DynamicActivationInt8WeightConfig")
    return exe


@register_optimization(
    "int8_dynamic_legacy", stage=Stage.CAST, devices=("cpu",), modes=("inference",), precision="int8",
)
def int8_dynamic_legacy(exe: Executable, ctx: OptContext) -> Executable:
    """Dynamic int8 Linear layers with torch.ao.quantization.quantize_dynamic (deprecated API, fbgemm)."""
    return _legacy(exe)
