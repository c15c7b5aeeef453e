"""ONNX Runtime: export with torch's ONNX exporter, run in an InferenceSession.

Export tries the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, built on torch.export)
first; when it fails, the legacy TorchScript exporter (``dynamo=False``) is the documented fallback
and the result records it in ``export_fallback`` with the dynamo exporter's first error line. When
both fail the cell is skipped with both first lines. The session uses the CUDA execution provider
when the cell runs on CUDA and this onnxruntime build has it, else the CPU provider; a CUDA cell
that ends up on the CPU provider records ``provider_fallback``. Session options go into ``notes``.
"""

from __future__ import annotations

import io
import re
from typing import Any

import torch

from vbench.metrics.fallbacks import note_fallback
from vbench.optimizations.plan import Executable, OptContext, Stage, register_optimization

__all__ = ["onnxruntime", "export_onnx", "choose_providers", "OrtCallable", "first_error_line"]

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def first_error_line(exc: BaseException) -> str:
    """``Type: first line`` of an exception, without the exporters' terminal colour codes."""
    lines = [ln.strip() for ln in _ANSI.sub("", str(exc)).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")[:300]


class ExportError(RuntimeError):
    """Neither ONNX exporter could export the model."""


def export_onnx(module: torch.nn.Module, example: torch.Tensor) -> tuple[bytes, str, str | None]:
    """Export ``module`` at ``example``'s shape to ONNX.

    Returns ``(model bytes, exporter used, fallback reason or None)``; raises :class:`ExportError`
    with both exporters' first error lines when neither works.
    """
    try:
        program = torch.onnx.export(module, (example,), dynamo=True, optimize=True, verbose=False)
        return program.model_proto.SerializeToString(), "dynamo", None
    except Exception as exc:  # any exporter failure: fall back, and say so in the result
        dynamo_error = first_error_line(exc)
    buffer = io.BytesIO()
    try:
        torch.onnx.export(module, (example,), buffer, dynamo=False, do_constant_folding=True)
    except Exception as exc:
        raise ExportError(f"ONNX export failed: dynamo exporter {dynamo_error}; "
                          f"legacy exporter {first_error_line(exc)}") from None
    return buffer.getvalue(), "torchscript", f"legacy TorchScript exporter (dynamo exporter {dynamo_error})"


def choose_providers(device: torch.device, available: list[str]) -> tuple[list[str], str | None]:
    """Execution providers to ask for on ``device`` given onnxruntime's ``available`` ones, and why
    the CUDA provider is not among them when the cell runs on CUDA (else None)."""
    if device.type == "cuda":
        if "CUDAExecutionProvider" in available:
            return ["CUDAExecutionProvider", "CPUExecutionProvider"], None
        return ["CPUExecutionProvider"], (
            "CPUExecutionProvider: this onnxruntime build has no CUDAExecutionProvider (pip install onnxruntime-gpu)"
        )
    return ["CPUExecutionProvider"], None


class OrtCallable:
    """Calls an InferenceSession like a module: a torch tensor in, a torch tensor out.

    On CPU the input and output cross as zero-copy numpy views. On CUDA the input and a
    preallocated output are bound in place with IO binding, so no host copy is timed.
    """

    _DTYPES = {"tensor(float)": torch.float32, "tensor(float16)": torch.float16}

    def __init__(self, session, device: torch.device):
        self.session = session
        self.device = device
        self.input_name = session.get_inputs()[0].name
        meta = session.get_outputs()[0]
        self.output_name = meta.name
        self.on_cuda = "CUDAExecutionProvider" in session.get_providers() and device.type == "cuda"
        # The export is static-shape, so the output's shape is known before the first call.
        self.output = (
            torch.empty(tuple(meta.shape), dtype=self._DTYPES[meta.type], device=device) if self.on_cuda else None
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.on_cuda:
            return self._run_cuda(x.contiguous())
        result = self.session.run([self.output_name], {self.input_name: x.detach().contiguous().cpu().numpy()})
        return torch.from_numpy(result[0]).to(self.device)

    def _run_cuda(self, x: torch.Tensor) -> torch.Tensor:
        import numpy as np

        binding = self.session.io_binding()
        index = self.device.index or 0
        binding.bind_input(self.input_name, "cuda", index, np.float32 if x.dtype == torch.float32 else np.float16,
                           tuple(x.shape), x.data_ptr())
        binding.bind_output(self.output_name, "cuda", index,
                            np.float32 if self.output.dtype == torch.float32 else np.float16,
                            tuple(self.output.shape), self.output.data_ptr())
        self.session.run_with_iobinding(binding)
        return self.output


def _session_options(ort) -> tuple[Any, dict[str, Any]]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads eager PyTorch gets
    options.inter_op_num_threads = 1
    recorded = {
        "graph_optimization_level": "ORT_ENABLE_ALL",
        "execution_mode": "ORT_SEQUENTIAL",
        "intra_op_num_threads": options.intra_op_num_threads,
        "inter_op_num_threads": options.inter_op_num_threads,
    }
    return options, recorded


@register_optimization(
    "onnxruntime", stage=Stage.COMPILE, modes=("inference",), static_shapes=True,
    requires=(("onnxruntime", "onnxruntime"), ("onnx", "onnx")),
)
def onnxruntime(exe: Executable, ctx: OptContext) -> Executable:
    """ONNX Runtime session (CUDA provider on GPU, else CPU) from torch's dynamo ONNX exporter."""
    import onnxruntime as ort

    with exe.context():
        data, exporter, fallback = export_onnx(exe.module, ctx.example_input)
    if fallback:
        note_fallback(exe, "export_fallback", fallback)
    providers, provider_problem = choose_providers(ctx.device, ort.get_available_providers())
    options, recorded = _session_options(ort)
    session = ort.InferenceSession(data, options, providers=providers)
    used = session.get_providers()
    if provider_problem:
        note_fallback(exe, "provider_fallback", provider_problem)
    elif providers[0] not in used:
        note_fallback(exe, "provider_fallback", f"{used[0]} (session refused {providers[0]})")
    exe.notes.update(
        onnx_exporter=exporter,
        onnx_bytes=len(data),
        ort_version=ort.__version__,
        ort_providers=used,
        ort_session_options=recorded,
    )
    exe.module = OrtCallable(session, ctx.device)
    return exe
