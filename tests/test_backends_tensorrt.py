"""TensorRT: everything that needs no TensorRT (TensorRT itself needs NVIDIA's libraries and a GPU;
see docs/backends.md)."""

from __future__ import annotations

import sys

import pytest
import torch
from backends_support import bk_project  # noqa: F401 - fixture
from torch import fx, nn

from vbench.optimizations.backends.tensorrt import compile_settings, import_problem, partition_counts, tensorrt_unavailable
from vbench.optimizations.plan import OPTIMIZATIONS, resolve_plan

CUDA = torch.device("cuda", 0)


@pytest.mark.parametrize("name", ["tensorrt_fp32", "tensorrt_fp16"])
def test_tensorrt_registrations(name):
    opt = OPTIMIZATIONS.get(name)
    assert opt.devices == {"cuda"} and opt.modes == {"inference"} and opt.static_shapes
    assert opt.requires == (("torch_tensorrt", "torch-tensorrt"),)
    assert resolve_plan(name).precision == name.split("_")[1]
    assert resolve_plan(f"channels_last+{name}").precision == name.split("_")[1]


def test_precision_mapping_for_both_torch_tensorrt_apis():
    explicit = {"use_explicit_typing", "enabled_precisions", "disable_tf32", "require_full_compilation"}
    legacy = {"enabled_precisions", "disable_tf32", "require_full_compilation"}
    # Newer versions: dtypes follow the (cast) model; enabled_precisions is deprecated there.
    assert compile_settings("fp16", explicit, allow_tf32=False) == {
        "use_explicit_typing": True, "disable_tf32": True, "require_full_compilation": False}
    assert compile_settings("fp16", legacy, allow_tf32=False)["enabled_precisions"] == {torch.float16}
    assert compile_settings("fp32", legacy, allow_tf32=True)["enabled_precisions"] == {torch.float32}
    assert compile_settings("fp32", legacy, allow_tf32=True)["disable_tf32"] is False
    assert compile_settings("fp32", {"enabled_precisions"}, allow_tf32=False) == {"enabled_precisions": {torch.float32}}
    with pytest.raises(ValueError, match="fp32, fp16"):
        compile_settings("int8", legacy, allow_tf32=False)


def test_partition_counts_by_torch_tensorrt_submodule_names():
    root = nn.Module()
    root._run_on_acc_0 = nn.Identity()
    root._run_on_gpu_1 = nn.ReLU()
    root._run_on_acc_2 = nn.Identity()
    graph = fx.Graph()
    x = graph.placeholder("x")
    y = graph.call_module("_run_on_acc_0", (x,))
    y = graph.call_module("_run_on_gpu_1", (y,))
    graph.output(graph.call_module("_run_on_acc_2", (y,)))
    module = fx.GraphModule(root, graph)
    assert partition_counts(module) == (2, 1)
    assert module(torch.ones(2)).tolist() == [1.0, 1.0]


def test_skip_reasons():
    if not torch.cuda.is_available():
        assert tensorrt_unavailable(CUDA) == "needs CUDA; this run has none"
    assert tensorrt_unavailable(torch.device("cpu")) == "needs CUDA; this run has none"
    plan = resolve_plan("tensorrt_fp16")
    assert plan.unavailable_reason(torch.device("cpu"), "inference") == "tensorrt_fp16 needs cuda; this run is on cpu"
    if "torch_tensorrt" not in sys.modules and not _installed("torch_tensorrt"):
        assert plan.unavailable_reason(CUDA, "inference") == \
            "tensorrt_fp16 needs torch_tensorrt: pip install torch-tensorrt"


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_installed_but_broken_torch_tensorrt_reports_the_import_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_tensorrt", None)  # as when libnvinfer cannot be loaded
    assert import_problem("torch_tensorrt").startswith("torch_tensorrt does not import: ModuleNotFoundError")
    assert import_problem("json") is None


def test_tensorrt_cells_are_gpu_cells_skipped_here_with_the_reason(bk_project):
    result = bk_project("--vb-models", "tiny_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "1",
                        "--vb-opts", "tensorrt_fp32,tensorrt_fp16", "--vb-device", "cpu", "-rs", "-m", "gpu")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED*tiny_net-tensorrt_fp32-bs1-8px: tensorrt_fp32 needs cuda; this run is on cpu"])
