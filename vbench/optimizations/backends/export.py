"""torch.export and AOTInductor.

``export`` times the ATen graph of ``torch.export.export`` (non-strict, static shapes) run by
PyTorch: it shows what a deployment that consumes an ExportedProgram starts from, and proves the
model exports. ``aot_inductor`` compiles that program ahead of time into a shared library with
AOTInductor (``torch._inductor.aoti_compile_and_package``) and runs it through
``aoti_load_package``; it needs a C++ compiler and takes minutes per model and batch size on a
small CPU, so no default CPU profile includes it. Either failing to export or compile one model is
a skip with the first line of the error (the COMPILE stage's rule), and the run goes on.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import torch

from vbench.optimizations.plan import Executable, OptContext, Stage, register_optimization

__all__ = ["export", "aot_inductor", "export_program", "cxx_compiler_missing"]


def export_program(module, example: torch.Tensor) -> torch.export.ExportedProgram:
    """``torch.export.export`` of ``module`` at ``example``'s shape (non-strict, static shapes)."""
    return torch.export.export(module, (example,), strict=False)


@register_optimization("export", stage=Stage.COMPILE, modes=("inference",), static_shapes=True)
def export(exe: Executable, ctx: OptContext) -> Executable:
    """torch.export.export (non-strict) of the model, its ATen graph run by PyTorch."""
    with exe.context():
        program = export_program(exe.module, ctx.example_input)
    exe.notes.update(export_strict=False, export_nodes=len(program.graph.nodes))
    exe.module = program.module()
    return exe


def cxx_compiler_missing(device: torch.device) -> str | None:
    """Why AOTInductor cannot build here (no C++ compiler on PATH), or None."""
    if not any(shutil.which(cc) for cc in ("c++", "g++", "clang++")):
        return "needs a C++ compiler (c++, g++ or clang++) on PATH"
    return None


class _AotiModule:
    """A loaded AOTInductor package, keeping its temporary folder alive as long as it is used."""

    def __init__(self, runner, folder: tempfile.TemporaryDirectory):
        self.runner, self._folder = runner, folder

    def __call__(self, x: torch.Tensor):
        return self.runner(x)


@register_optimization(
    "aot_inductor", stage=Stage.COMPILE, modes=("inference",), static_shapes=True, check=cxx_compiler_missing,
)
def aot_inductor(exe: Executable, ctx: OptContext) -> Executable:
    """AOTInductor: torch.export then ahead-of-time compiled to a shared library (minutes per shape)."""
    from torch._inductor import aoti_compile_and_package, aoti_load_package

    with exe.context():
        program = export_program(exe.module, ctx.example_input)
    folder = tempfile.TemporaryDirectory(prefix="vbench-aoti-")
    package = aoti_compile_and_package(program, package_path=str(Path(folder.name) / "model.pt2"))
    exe.notes.update(export_strict=False, aoti_package_bytes=Path(package).stat().st_size)
    exe.module = _AotiModule(aoti_load_package(package), folder)
    return exe
