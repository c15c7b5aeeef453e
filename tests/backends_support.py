"""Shared pieces of the backend tests: a user conftest with test models and test optimizations."""

from __future__ import annotations

import importlib
import importlib.util
import json
import textwrap

import pytest

# Added to the user conftest of tests/conftest.py: what a user would register to test the guard
# and the fallback reporting with real sessions.
BACKEND_CONFTEST = textwrap.dedent(
    """
    import torch
    from torch import nn
    from vbench import register_model, register_optimization
    from vbench.optimizations.plan import Stage


    @register_optimization("perturb_weights", overwrite=True)
    def perturb_weights(exe, ctx):
        \"\"\"Deliberately wrong: Gaussian noise of 1 % of each tensor's std on every weight.\"\"\"
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in exe.module.parameters():
                scale = p.std().nan_to_num(0) if p.numel() > 1 else p.abs()
                p.add_(torch.randn(p.shape, generator=generator) * scale * 0.01)
        return exe


    @register_optimization("compile_eager", stage=Stage.COMPILE, overwrite=True)
    def compile_eager(exe, ctx):
        \"\"\"torch.compile with the eager backend: dynamo's graph capture without inductor's build time.\"\"\"
        exe.module = torch.compile(exe.module, backend="eager", dynamic=False)
        return exe


    class Branchy(nn.Module):
        \"\"\"Data-dependent control flow: torch.export (the dynamo ONNX exporter) refuses it, the
        TorchScript exporter traces one branch.\"\"\"

        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(3, num_classes)

        def forward(self, x):
            x = x.mean((2, 3))
            if x.mean() > -100:
                return self.fc(x)
            return -self.fc(x)


    class Eig(nn.Module):
        \"\"\"An operator no ONNX exporter supports (eigvalsh).\"\"\"

        def __init__(self, num_classes):
            super().__init__()
            self.fc = nn.Linear(3, num_classes)

        def forward(self, x):
            a = x.mean(3)[:, :, :3]
            return self.fc(torch.linalg.eigvalsh(a @ a.transpose(1, 2)))


    class GraphBreak(nn.Module):
        \"\"\"A graph break in the middle of forward.\"\"\"

        def __init__(self, num_classes):
            super().__init__()
            self.a, self.b = nn.Linear(3, 8), nn.Linear(8, num_classes)

        def forward(self, x):
            h = self.a(x.mean((2, 3)))
            torch._dynamo.graph_break()
            return self.b(h)


    @register_model(family="custom", img_size=8, overwrite=True)
    def branchy_net(img_size, num_classes):
        return Branchy(num_classes)


    @register_model(family="custom", img_size=8, overwrite=True)
    def eig_net(img_size, num_classes):
        return Eig(num_classes)


    @register_model(family="custom", img_size=8, overwrite=True)
    def graph_break_net(img_size, num_classes):
        return GraphBreak(num_classes)
    """
)


def _import_lazy_modules() -> None:
    """Import, in this process, what the backends and torch.compile import lazily.

    Pytester restores ``sys.modules`` after each test to its state when the ``pytester`` fixture was
    created, and torch's exporter, dynamo and inductor modules break when imported a second time
    ("Artifact of type=autotune already registered", an abort in the ONNX op registry). Importing
    them when this module is imported (collection, before any test of the worker runs) puts them in
    every snapshot.
    """
    import torch

    import vbench.optimizations.backends  # noqa: F401

    module = torch.nn.Linear(2, 2).eval()
    example = torch.ones(1, 2)
    with torch.no_grad():
        torch.export.export(module, (example,), strict=False).module()(example)
        if importlib.util.find_spec("onnxscript") is not None:  # the [onnx] extra
            torch.onnx.export(module, (example,), dynamo=True, verbose=False)
        torch.compile(module, backend="eager")(example)
    for name in ("onnxruntime", "torchao.quantization", "torch._inductor.compile_fx", "torch.profiler"):
        if importlib.util.find_spec(name.split(".")[0]) is not None:
            importlib.import_module(name)


_import_lazy_modules()


@pytest.fixture
def bk_project(vb_project, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """``vb_project`` plus the backend test models and optimizations; ``run(*args)`` as there."""
    # pytest-benchmark disables itself inside an xdist worker; the inner session is not one.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + BACKEND_CONFTEST)
    return vb_project


needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("onnxruntime", "onnx", "onnxscript")),
    reason="pip install -e '.[onnx]'",
)


def load_cells(pytester: pytest.Pytester, name: str = "out.json") -> dict[str, dict]:
    """Cell id -> extra_info of the saved JSON."""
    data = json.loads((pytester.path / name).read_text())
    return {b["name"].split("[", 1)[1].rstrip("]"): b["extra_info"] for b in data["benchmarks"]}
