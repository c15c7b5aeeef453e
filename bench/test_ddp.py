"""DDP training cells: the eager training step on every visible GPU (torchrun + DistributedDataParallel)
against one GPU, for each (model, image size, batch size) of the profile's eager training cells
(vbench/workloads/ddp.py).

Skipped with the reason on fewer than 2 GPUs (and so on CPU and under -n with one GPU per worker:
run DDP cells without -n). tests/test_distributed.py runs the same code path on CPU with gloo.
The batch size is per GPU. pytest-benchmark's stats here time the whole N-GPU torchrun launch;
the per-step figures are ``step_ms_p50``, ``samples_per_s`` and ``scaling_efficiency`` in extra_info.
"""

import pytest


@pytest.mark.vbench(mode="ddp")
def test_ddp_train(vb_cell, vb_measure):
    vb_measure(vb_cell)
