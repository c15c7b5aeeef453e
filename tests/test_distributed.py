"""DDP training steps: 2 real gloo processes under torchrun on a tiny model (the NCCL path needs GPUs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vbench.distributed import launch, scaling_efficiency, summarize_steps
from vbench.errors import VBenchError


def test_two_gloo_processes_run_ddp_training_steps(tmp_path):
    fields = launch("resnet18", 32, 2, 2, steps=3, warmup=1, out=tmp_path / "ddp.json", timeout_s=300)
    assert fields["world_size"] == 2 and fields["backend"] == "gloo" and fields["device"] == "cpu"
    assert len(fields["step_s"]) == 3 and all(t > 0 for t in fields["step_s"])
    assert fields["global_batch_size"] == 4 and fields["samples_per_s"] > 0


def test_a_failing_job_is_one_line(tmp_path):
    with pytest.raises(VBenchError, match=r"DDP run with 1 process\(es\) failed \(exit 1\): rank 0: UnknownNameError"):
        launch("no_such_model_xyz", 32, 2, 1, steps=1, warmup=0, out=tmp_path / "x.json", timeout_s=300)


def test_steps_end_with_the_slowest_rank_and_efficiency_is_weak_scaling():
    fields = summarize_steps([[0.1, 0.2, 0.1], [0.15, 0.1, 0.1]], batch_per_rank=8)
    assert fields["step_s"] == [0.15, 0.2, 0.1] and fields["step_ms_p50"] == pytest.approx(150.0)
    assert fields["samples_per_s"] == pytest.approx(16 / 0.15)
    assert scaling_efficiency(180.0, 100.0, 2) == pytest.approx(0.9)
    assert scaling_efficiency(None, 100.0, 2) is None


def test_ddp_cells_run_through_the_runner_with_the_guard_and_the_fallback_fields(pytester, monkeypatch):
    # Two gloo ranks on the CPU stand in for two GPUs; each job runs 2 timed steps after 1 warm-up step.
    from vbench.workloads.ddp import DDPWorkload

    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(DDPWorkload, "world_size", lambda self: 2)
    monkeypatch.setattr(DDPWorkload, "steps", 2)
    monkeypatch.setattr(DDPWorkload, "warmup_steps", 1)
    pytester.makepyfile(test_ddp=(Path(__file__).resolve().parent.parent / "bench" / "test_ddp.py").read_text())
    pytester.makefile(".yaml", matrix="entries:\n  - {models: [resnet18], optimizations: [eager], batch_sizes: [2],"
                      " img_sizes: [32], modes: [train]}\n")
    result = pytester.runpytest_inprocess("--vb-matrix", "matrix.yaml", "--vb-warmup-time=0", "-p", "no:cacheprovider",
                                          "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    (bench,) = json.loads((pytester.path / "out.json").read_text())["benchmarks"]
    assert bench["name"] == "test_ddp_train[resnet18-eager-bs2-32px]"
    extra = bench["extra_info"]
    assert extra["mode"] == "ddp" and extra["world_size"] == 2 and extra["backend"] == "gloo"
    assert extra["correctness"] == "ok" and extra["max_rel_err"] < 1e-4  # rank 0's first step against fp32 eager
    assert extra["fallback"] is False and extra["graph_breaks"] == 0 and extra["rounds"] == 1
    assert extra["samples_per_s"] > 0 and extra["samples_per_s_1gpu"] > 0 and extra["scaling_efficiency"] > 0
    assert extra["latency_ms_p50"] == pytest.approx(extra["step_ms_p50"])
    assert extra["samples_per_s"] == pytest.approx(4 / (extra["step_ms_p50"] / 1e3))


def test_ddp_cells_skip_with_the_reason_on_fewer_than_two_gpus(pytester, monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_ddp=(Path(__file__).resolve().parent.parent / "bench" / "test_ddp.py").read_text())
    result = pytester.runpytest_inprocess("--vb-models", "resnet18", "--vb-modes", "train", "--vb-opts", "eager",
                                          "--vb-batch-sizes", "2", "--vb-img-sizes", "32", "--vb-device", "cpu", "-rs",
                                          "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*resnet18-eager-bs2-32px: DDP cells need at least 2 GPUs (found 0 on device cpu)*"])
