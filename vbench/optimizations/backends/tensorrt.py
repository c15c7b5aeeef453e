"""TensorRT through torch-tensorrt's dynamo path (UNVERIFIED: no machine here can run TensorRT).

Written against torch-tensorrt's documented API: ``torch.export.export`` the model, then
``torch_tensorrt.dynamo.compile(exported_program, inputs=[...])``, which returns a
``torch.fx.GraphModule`` whose ``_run_on_acc_N`` submodules are TensorRT engines and whose
``_run_on_gpu_N`` submodules are the subgraphs left to PyTorch. The engine build happens inside
the optimization, so it is the cell's ``convert_s`` (part of ``cold_start_s``); each batch size
builds its own static-shape engine. Subgraphs left to PyTorch are recorded in
``pytorch_subgraphs`` (a fallback).

Precision: ``tensorrt_fp32`` keeps the model in fp32 and disables TF32 unless the session allows
it (``--vb-tf32 on``, then the cell's precision class is tf32). ``tensorrt_fp16`` casts weights and
inputs to fp16; torch-tensorrt versions with ``use_explicit_typing`` follow those dtypes, older
ones get ``enabled_precisions={torch.float16}``. Everything that needs no TensorRT (settings for
each precision and API version, partition counting, skip reasons) is unit-tested on CPU.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import torch

from vbench.metrics.fallbacks import note_fallback
from vbench.optimizations.plan import Executable, OptContext, Stage, register_optimization

__all__ = [
    "tensorrt_fp32",
    "tensorrt_fp16",
    "TRT_DTYPES",
    "tensorrt_unavailable",
    "import_problem",
    "compile_settings",
    "partition_counts",
]

TRT_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16}


def import_problem(module: str) -> str | None:
    """The first line of the error importing ``module``, or None when it imports."""
    try:
        importlib.import_module(module)
    except Exception as exc:  # ImportError, OSError from a missing libnvinfer, ...
        text = str(exc).strip().splitlines()
        return f"{module} does not import: {type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
    return None


def tensorrt_unavailable(device: torch.device) -> str | None:
    """Why TensorRT cannot run here even though torch_tensorrt is installed, or None.

    The torch-tensorrt wheel installs from PyPI, but the TensorRT libraries it loads come from
    NVIDIA's index; without them the import fails, and the first line of that error is the reason.
    """
    if device.type != "cuda" or not torch.cuda.is_available():
        return "needs CUDA; this run has none"
    return import_problem("torch_tensorrt")


def compile_settings(precision: str, accepted: set[str] | frozenset[str], allow_tf32: bool) -> dict[str, Any]:
    """Keyword arguments for ``torch_tensorrt.dynamo.compile`` for ``precision`` (fp32 or fp16).

    ``accepted`` is the set of parameter names the installed ``compile`` takes (its signature), so
    one code path serves the versions before and after ``enabled_precisions`` gave way to
    ``use_explicit_typing``.
    """
    if precision not in TRT_DTYPES:
        raise ValueError(f"TensorRT precision must be one of {', '.join(TRT_DTYPES)}, not {precision!r}")
    settings: dict[str, Any] = {}
    if "use_explicit_typing" in accepted:
        settings["use_explicit_typing"] = True  # the engine follows the (cast) model's dtypes
    elif "enabled_precisions" in accepted:
        settings["enabled_precisions"] = {TRT_DTYPES[precision]}
    if "disable_tf32" in accepted:
        settings["disable_tf32"] = not allow_tf32
    if "require_full_compilation" in accepted:
        settings["require_full_compilation"] = False  # partial is allowed, and counted as a fallback
    return settings


def partition_counts(module: torch.nn.Module) -> tuple[int, int]:
    """``(TensorRT engines, subgraphs left to PyTorch)`` among ``module``'s direct children, by
    torch-tensorrt's partition names (``_run_on_acc_N`` / ``_run_on_gpu_N``)."""
    names = [name for name, _ in module.named_children()]
    return (sum(n.startswith("_run_on_acc") for n in names), sum(n.startswith("_run_on_gpu") for n in names))


def _tensorrt(exe: Executable, ctx: OptContext, precision: str) -> Executable:
    import torch_tensorrt

    example = ctx.example_input
    if precision == "fp16":
        exe.module = exe.module.to(torch.float16)
        exe = exe.then_transform(lambda x: x.to(torch.float16) if x.is_floating_point() else x)
        example = example.to(torch.float16)
    accepted = set(inspect.signature(torch_tensorrt.dynamo.compile).parameters)
    settings = compile_settings(precision, accepted, torch.backends.cuda.matmul.allow_tf32)
    with exe.context():
        program = torch.export.export(exe.module, (example,), strict=False)
        compiled = torch_tensorrt.dynamo.compile(program, inputs=[example], **settings)
    engines, in_pytorch = partition_counts(compiled)
    note_fallback(exe, "pytorch_subgraphs", in_pytorch)
    exe.notes.update(
        torch_tensorrt_version=getattr(torch_tensorrt, "__version__", None),
        trt_engines=engines,
        trt_settings={k: sorted(map(str, v)) if isinstance(v, set) else v for k, v in settings.items()},
    )
    exe.module = compiled
    return exe


_COMMON = dict(
    stage=Stage.COMPILE, devices=("cuda",), modes=("inference",), static_shapes=True,
    requires=(("torch_tensorrt", "torch-tensorrt"),), check=tensorrt_unavailable,
)


@register_optimization("tensorrt_fp32", precision="fp32", **_COMMON)
def tensorrt_fp32(exe: Executable, ctx: OptContext) -> Executable:
    """TensorRT engine via torch-tensorrt (dynamo path), fp32 (unverified here: no TensorRT)."""
    return _tensorrt(exe, ctx, "fp32")


@register_optimization("tensorrt_fp16", precision="fp16", **_COMMON)
def tensorrt_fp16(exe: Executable, ctx: OptContext) -> Executable:
    """TensorRT engine via torch-tensorrt (dynamo path), fp16 weights and inputs (unverified here)."""
    return _tensorrt(exe, ctx, "fp16")
