"""Built-in optimizations. Each is one registered function; see :mod:`vbench.optimizations.plan`.

Deployment backends (ONNX Runtime, TensorRT, int8, torch.export) register themselves the same way
in their own modules.
"""

from __future__ import annotations

import functools

import torch

from vbench.optimizations.plan import Executable, OptContext, Stage, register_optimization, tf32_allowed

__all__ = ["eager", "channels_last", "fp16", "bf16", "amp_fp16", "amp_bf16", "tf32", "compile", "torchscript"]


@register_optimization("eager")
def eager(exe: Executable, ctx: OptContext) -> Executable:
    """fp32 eager PyTorch: the baseline every other cell is compared with."""
    return exe


@register_optimization("channels_last")
def channels_last(exe: Executable, ctx: OptContext) -> Executable:
    """NHWC memory format for weights and inputs (faster convolutions on tensor cores and oneDNN)."""
    exe.module = exe.module.to(memory_format=torch.channels_last)
    return exe.then_transform(lambda x: x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)


def _cast(exe: Executable, dtype: torch.dtype) -> Executable:
    exe.module = exe.module.to(dtype=dtype)
    return exe.then_transform(lambda x: x.to(dtype) if x.is_floating_point() else x)


@register_optimization("fp16", precision="fp16", slow_on_cpu=True)
def fp16(exe: Executable, ctx: OptContext) -> Executable:
    """Weights and inputs cast to float16 (no autocast)."""
    return _cast(exe, torch.float16)


@register_optimization("bf16", precision="bf16")
def bf16(exe: Executable, ctx: OptContext) -> Executable:
    """Weights and inputs cast to bfloat16 (no autocast)."""
    return _cast(exe, torch.bfloat16)


def _autocast(exe: Executable, ctx: OptContext, dtype: torch.dtype) -> Executable:
    exe.notes["autocast_dtype"] = str(dtype).replace("torch.", "")
    return exe.with_context(functools.partial(torch.autocast, device_type=ctx.device.type, dtype=dtype))


@register_optimization("amp_fp16", stage=Stage.CONTEXT, precision="fp16", slow_on_cpu=True)
def amp_fp16(exe: Executable, ctx: OptContext) -> Executable:
    """Automatic mixed precision with float16 (torch.autocast); training cells add a GradScaler."""
    return _autocast(exe, ctx, torch.float16)


@register_optimization("amp_bf16", stage=Stage.CONTEXT, precision="bf16")
def amp_bf16(exe: Executable, ctx: OptContext) -> Executable:
    """Automatic mixed precision with bfloat16 (torch.autocast)."""
    return _autocast(exe, ctx, torch.bfloat16)


@register_optimization("tf32", stage=Stage.CONTEXT, devices=("cuda",), precision="tf32")
def tf32(exe: Executable, ctx: OptContext) -> Executable:
    """TF32 tensor-core matmuls and convolutions for fp32 models (Ampere and newer)."""
    return exe.with_context(functools.partial(tf32_allowed, True))


@register_optimization("compile", stage=Stage.COMPILE)
def compile(exe: Executable, ctx: OptContext) -> Executable:  # noqa: A001 - the optimization's name
    """torch.compile (inductor) with static shapes; the mode comes from --vb-compile-mode."""
    exe.notes["compile_mode"] = ctx.compile_mode
    # Static shapes on purpose: each batch size compiles its own graph, as a deployment would,
    # and the recompile is part of that cell's cold start, not of its timed rounds.
    exe.module = torch.compile(exe.module, mode=ctx.compile_mode, dynamic=False)
    return exe


@register_optimization("torchscript", stage=Stage.COMPILE, modes=("inference",))
def torchscript(exe: Executable, ctx: OptContext) -> Executable:
    """torch.jit.trace + freeze (deprecated in recent torch; the warning is recorded, not printed)."""
    with torch.no_grad(), exe.context():
        traced = torch.jit.trace(exe.module, ctx.example_input, check_trace=False)
    exe.module = torch.jit.freeze(traced.eval())
    return exe
