"""ONNX Runtime cells: real exports, real sessions, the exporter fallback and the skip paths."""

from __future__ import annotations

import sys

import torch
from backends_support import bk_project, load_cells, needs_onnx  # noqa: F401 - fixture

from vbench.optimizations.backends.onnxruntime import choose_providers, first_error_line
from vbench.metrics.fallbacks import FALLBACK_FIELDS

FALLBACKS = ["export_fallback", "provider_fallback", "pytorch_subgraphs", "api_fallback"]


def test_providers_cuda_when_the_build_has_it_else_cpu_with_the_reason():
    cuda, cpu = torch.device("cuda", 0), torch.device("cpu")
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(cuda, both) == (both, None)
    providers, reason = choose_providers(cuda, ["CPUExecutionProvider"])
    assert providers == ["CPUExecutionProvider"] and "pip install onnxruntime-gpu" in reason
    assert choose_providers(cpu, both) == (["CPUExecutionProvider"], None)


def test_first_error_line_drops_terminal_colours():
    exc = RuntimeError("Failed to export. \x1b[96mThis is step 1/3\x1b[0m of exporting.\nmore detail")
    assert first_error_line(exc) == "RuntimeError: Failed to export. This is step 1/3 of exporting."


@needs_onnx
def test_onnxruntime_cell_records_exporter_session_and_fallback_fields(bk_project, pytester):
    result = bk_project(
        "--vb-models", "tiny_net,branchy_net,eig_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "2",
        "--vb-opts", "eager,onnxruntime", "-rs", "--benchmark-json", "out.json",
    )
    # eig_net exports with neither exporter: skipped with both first lines, and the run goes on.
    result.assert_outcomes(passed=5, skipped=1)
    result.stdout.fnmatch_lines([
        "SKIPPED*eig_net-onnxruntime-bs2-8px: onnxruntime failed for eig_net: ExportError: ONNX export failed: "
        "dynamo exporter *; legacy exporter UnsupportedOperatorError: *linalg_eigvalsh*",
    ])
    cells = load_cells(pytester)
    for cell_id, info in cells.items():  # fallback and cold-start fields on every cell, eager included
        assert set(FALLBACK_FIELDS) <= set(info), cell_id
        assert info["cold_start_s"] > 0 and info["convert_s"] >= 0
    tiny = cells["tiny_net-onnxruntime-bs2-8px"]
    assert tiny["notes"]["onnx_exporter"] == "dynamo" and tiny["export_fallback"] is None
    assert tiny["notes"]["ort_providers"] == ["CPUExecutionProvider"] and tiny["provider_fallback"] is None
    assert tiny["notes"]["ort_session_options"]["graph_optimization_level"] == "ORT_ENABLE_ALL"
    assert tiny["notes"]["ort_session_options"]["intra_op_num_threads"] >= 1
    assert tiny["max_rel_err"] < 1e-5 and tiny["correctness"] == "ok" and tiny["fallback"] is False
    branchy = cells["branchy_net-onnxruntime-bs2-8px"]
    assert branchy["notes"]["onnx_exporter"] == "torchscript" and branchy["fallback"] is True
    assert branchy["export_fallback"].startswith("legacy TorchScript exporter (dynamo exporter TorchExportError:")
    assert branchy["correctness"] == "ok"
    result.stdout.fnmatch_lines([
        "*vbench fallbacks and recompiles*",
        "branchy_net-onnxruntime-bs2-8px: export fallback: legacy TorchScript exporter (dynamo exporter *",
    ])


def test_missing_onnxruntime_is_a_skip_with_the_pip_command(bk_project, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what an uninstalled package looks like to imports
    result = bk_project("--vb-models", "tiny_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "1",
                        "--vb-opts", "eager,onnxruntime", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*onnxruntime needs onnxruntime: pip install onnxruntime"])
