"""int8 dynamic quantization and torch.export cells on a real ViT (Linear layers are what int8 changes)."""

from __future__ import annotations

import importlib.util
import sys

import pytest
from backends_support import bk_project, load_cells  # noqa: F401 - fixture

from vbench.optimizations.backends.quantize import torch_ao_deprecation
from vbench.optimizations.plan import resolve_plan

needs_torchao = pytest.mark.skipif(importlib.util.find_spec("torchao") is None, reason="pip install torchao")


def test_this_torch_deprecates_torch_ao_quantization():
    # Recorded in every int8_dynamic_legacy result; if torch drops the warning, the docs must change.
    assert "deprecated" in torch_ao_deprecation()


def test_int8_and_export_are_cpu_inference_optimizations_with_their_precision():
    assert resolve_plan("int8_dynamic").precision == "int8"
    assert resolve_plan("int8_dynamic+compile").precision == "int8"  # torchao is meant to be compiled
    assert resolve_plan("export").static_shapes and not resolve_plan("int8_dynamic").static_shapes
    import torch

    assert "needs cpu" in resolve_plan("int8_dynamic").unavailable_reason(torch.device("cuda"), "inference")
    assert "does not support train" in resolve_plan("export").unavailable_reason(torch.device("cpu"), "train")


@needs_torchao
def test_int8_and_export_cells_run_with_correctness_fields(bk_project, pytester):
    result = bk_project("--vb-models", "vit_tiny_patch16_224", "--vb-img-sizes", "32", "--vb-batch-sizes", "2",
                        "--vb-opts", "int8_dynamic,int8_dynamic_legacy,export", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=3)
    cells = load_cells(pytester)
    maintained = cells["vit_tiny_patch16_224-int8_dynamic-bs2-32px"]
    legacy = cells["vit_tiny_patch16_224-int8_dynamic_legacy-bs2-32px"]
    exported = cells["vit_tiny_patch16_224-export-bs2-32px"]
    assert maintained["notes"]["int8_api"].startswith("torchao ") and maintained["api_fallback"] is None
    assert legacy["notes"]["int8_api"] == "torch.ao.quantization.quantize_dynamic"
    assert "deprecated" in legacy["notes"]["int8_deprecation"]
    for info in (maintained, legacy):
        assert info["precision"] == "int8" and info["tolerance_max_rel_err"] == 0.15
        assert 1e-4 < info["max_rel_err"] < 0.15 and info["correctness"] == "ok"
    assert exported["notes"]["export_strict"] is False and exported["notes"]["export_nodes"] > 10
    assert exported["max_rel_err"] < 1e-5 and exported["fallback"] is False


def test_int8_without_torchao_falls_back_to_torch_ao_and_says_so(bk_project, pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchao", None)
    result = bk_project("--vb-models", "vit_tiny_patch16_224", "--vb-img-sizes", "32", "--vb-batch-sizes", "2",
                        "--vb-opts", "int8_dynamic", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    info = load_cells(pytester)["vit_tiny_patch16_224-int8_dynamic-bs2-32px"]
    assert info["notes"]["int8_api"] == "torch.ao.quantization.quantize_dynamic"
    assert info["api_fallback"].startswith("torch.ao.quantization (deprecated): torchao not installed")
    assert info["fallback"] is True
    result.stdout.fnmatch_lines(["*vbench fallbacks and recompiles*",
                                 "*int8_dynamic-bs2-32px: api fallback: torch.ao.quantization (deprecated)*"])


def test_static_shape_backends_build_once_per_batch_size(bk_project, pytester):
    result = bk_project("--vb-models", "tiny_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "1,2",
                        "--vb-opts", "export,channels_last", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=4)
    cells = load_cells(pytester)
    # export builds per batch size (its own convert_s); channels_last converts once and is reused.
    assert cells["tiny_net-export-bs1-8px"]["convert_s"] != cells["tiny_net-export-bs2-8px"]["convert_s"]
    assert cells["tiny_net-channels_last-bs1-8px"]["convert_s"] == cells["tiny_net-channels_last-bs2-8px"]["convert_s"]
