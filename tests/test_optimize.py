"""Optimization registry, combinations and what each built-in does to a real model."""

from __future__ import annotations

import pytest
import torch

from vbench.errors import UnknownNameError, VBenchError
from vbench.models import create_model
from vbench.optimizations.plan import OPTIMIZATIONS, OptContext, Stage, list_optimizations, register_optimization, resolve_plan

CPU = torch.device("cpu")


def _apply(spec, model_name="resnet18", img=32):
    x = torch.randn(2, 3, img, img)
    with torch.no_grad():
        exe = resolve_plan(spec).apply(create_model(model_name, img_size=img), OptContext(CPU, "inference", x))
        return exe, exe(exe.prepare(x))


def test_the_required_optimizations_are_registered():
    required = {"eager", "amp_fp16", "amp_bf16", "channels_last", "compile", "torchscript", "fp16", "bf16"}
    assert required <= set(list_optimizations())
    assert list_optimizations("amp_*") == ["amp_bf16", "amp_fp16"]


def test_combination_applies_in_stage_order_and_takes_the_lossiest_precision():
    plan = resolve_plan("amp_bf16+channels_last")
    assert [p.stage for p in plan.parts] == [Stage.CONTEXT, Stage.CAST]
    assert plan.precision == "bf16"
    exe, out = _apply("amp_bf16+channels_last")
    assert exe.prepare(torch.randn(1, 3, 8, 8)).is_contiguous(memory_format=torch.channels_last)
    assert out.dtype == torch.bfloat16  # autocast ran around the call


@pytest.mark.parametrize("spec, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16), ("eager", torch.float32)])
def test_casts_change_weights_and_inputs(spec, dtype):
    exe, out = _apply(spec)
    assert next(exe.module.parameters()).dtype == dtype
    assert out.dtype == dtype


@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:FutureWarning")
def test_torchscript_traces_a_frozen_module():
    exe, out = _apply("torchscript")
    assert isinstance(exe.module, torch.jit.ScriptModule)
    assert out.shape == (2, 1000)


def test_bad_combinations_and_names():
    with pytest.raises(UnknownNameError, match="did you mean amp_bf16"):
        resolve_plan("amp_bf61")
    with pytest.raises(VBenchError, match="combines 2 compilers"):
        resolve_plan("compile+torchscript")
    with pytest.raises(VBenchError, match="eager is the baseline"):
        resolve_plan("eager+bf16")
    with pytest.raises(VBenchError, match="names a part twice"):
        resolve_plan("bf16+bf16")
    with pytest.raises(VBenchError, match="empty part"):
        resolve_plan("bf16+")


def test_unavailable_reasons_name_device_mode_and_package():
    assert resolve_plan("tf32").unavailable_reason(CPU, "inference") == "tf32 needs cuda; this run is on cpu"
    assert resolve_plan("torchscript").unavailable_reason(CPU, "train") == \
        "torchscript does not support train (only inference)"
    assert resolve_plan("eager").unavailable_reason(CPU, "inference") is None

    @register_optimization("vbtest_needs_pkg", requires=(("vbtest_missing_module", "vbtest-pkg"),))
    def needs_pkg(exe, ctx):
        return exe

    try:
        assert resolve_plan("channels_last+vbtest_needs_pkg").unavailable_reason(CPU, "inference") == \
            "vbtest_needs_pkg needs vbtest_missing_module: pip install vbtest-pkg"
    finally:
        OPTIMIZATIONS.remove("vbtest_needs_pkg")


def test_unknown_precision_is_refused():
    with pytest.raises(VBenchError, match="precision must be one of"):
        register_optimization("vbtest_bad", precision="fp8")
