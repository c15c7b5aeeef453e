"""A fixed reference workload timed next to a cell: how fast the machine is right now.

A shared machine's speed drifts: other tenants, frequency and thermal states make a whole session,
or a few seconds of it, run slower than the last, and a stored baseline cannot see that. The probe
is a fixed piece of plain torch work, independent of the code under test (its model, vbench's
optimizations), on the cell's device. Timed back to back with the cell, the ratio cell / probe
cancels what slowed both; the gate judges it as ``norm_time`` (``--vb-probe on``). A change of
torch or hardware changes the probe too, but it also changes the ``hardware_key``, so such runs are
never compared.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["ProbeSpec", "machine_probe"]


@dataclass(frozen=True)
class ProbeSpec:
    """Sizes of the probe: on CPU ``layers`` 3x3 convolutions of ``channels`` channels on a
    ``batch`` x ``size`` x ``size`` input (about 1.4 ms on one core of a 2-core Intel Xeon VM);
    on CUDA ``cuda_layers`` bf16 matmuls of ``matmul`` squared: compute-bound rather than launch-bound,
    and bf16 so the run's TF32 setting cannot change it."""

    channels: int = 16
    size: int = 16
    batch: int = 8
    layers: int = 10
    matmul: int = 4096
    cuda_layers: int = 4
    seed: int = 1234


def machine_probe(device: torch.device, spec: ProbeSpec = ProbeSpec()) -> Callable[[], torch.Tensor]:
    """The probe for ``device``: a function running the fixed work once (synchronize around it to time it)."""
    g = torch.Generator().manual_seed(spec.seed)
    if device.type == "cuda":
        a = torch.randn(spec.matmul, spec.matmul, generator=g).div_(spec.matmul ** 0.5).to(device, torch.bfloat16)

        def probe() -> torch.Tensor:
            y = a
            for _ in range(spec.cuda_layers):
                y = a @ y
            return y

        return probe
    weight = torch.randn(spec.channels, spec.channels, 3, 3, generator=g).mul_(0.1).to(device)
    x = torch.randn(spec.batch, spec.channels, spec.size, spec.size, generator=g).to(device)

    def probe() -> torch.Tensor:
        y = x
        for _ in range(spec.layers):
            y = torch.nn.functional.conv2d(y, weight, padding=1).relu_()
        return y

    return probe
