"""DDP training steps: 2 real gloo processes under torchrun on a tiny model (the NCCL path needs GPUs)."""

from __future__ import annotations

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
