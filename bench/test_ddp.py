"""DDP training cells: the eager training step on every visible GPU (torchrun + DistributedDataParallel)
against one GPU, for each (model, image size, batch size) of the profile's eager training cells.

Skipped with the reason on fewer than 2 GPUs (and so on CPU and under -n with one GPU per worker:
run DDP cells without -n). tests/test_distributed.py runs the same code path on CPU with gloo.
The batch size is per GPU. pytest-benchmark's stats here time the whole N-GPU torchrun launch;
the per-step figures are ``step_ms_p50``, ``samples_per_s`` and ``scaling_efficiency`` in extra_info.
"""

import pytest
import torch

from vbench.distributed import DistributedUnavailable, launch, scaling_efficiency
from vbench.plugin import session_of
from vbench.schema import SCHEMA_VERSION


def pytest_generate_tests(metafunc):
    if "ddp_case" not in metafunc.fixturenames:
        return
    cases = dict.fromkeys((c.model, c.img_size, c.batch_size) for c in session_of(metafunc.config).cells
                          if c.mode == "train" and c.optimization == "eager")
    metafunc.parametrize("ddp_case", list(cases), ids=[f"{m}-ddp-bs{b}-{s}px" for m, s, b in cases])


@pytest.mark.ddp
def test_ddp_train(ddp_case, vb_settings, benchmark, tmp_path):
    model, img_size, batch_size = ddp_case
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if vb_settings.device.type != "cuda" or gpus < 2:
        pytest.skip(f"DDP cells need at least 2 GPUs (found {gpus} on device {vb_settings.device}); "
                    "tests/test_distributed.py runs this path on CPU with gloo")
    try:
        one = launch(model, img_size, batch_size, 1, seed=vb_settings.seed, out=tmp_path / "1.json")
        many = benchmark.pedantic(launch, args=(model, img_size, batch_size, gpus),
                                  kwargs={"seed": vb_settings.seed, "out": tmp_path / "n.json"},
                                  rounds=1, iterations=1)
    except DistributedUnavailable as exc:
        pytest.skip(str(exc))
    benchmark.extra_info.update(
        schema_version=SCHEMA_VERSION, mode="ddp", model=model, optimization="eager", img_size=img_size,
        batch_size=batch_size, device="cuda", precision="fp32", world_size=gpus,
        samples_per_s=many["samples_per_s"], samples_per_s_1gpu=one["samples_per_s"],
        scaling_efficiency=scaling_efficiency(many["samples_per_s"], one["samples_per_s"], gpus),
        step_ms_p50=many["step_ms_p50"], step_ms_p50_1gpu=one["step_ms_p50"],
        rank_skew_ms_p50=many["rank_skew_ms_p50"], backend=many["backend"], gpu_name=many["gpu_name"],
        stats_measure="pytest-benchmark stats: wall time of the whole torchrun launch (one round)",
    )
