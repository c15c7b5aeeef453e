"""Device-synchronized timers and the warm-up policy.

CUDA kernels run asynchronously: reading a host clock after launching them measures the launch,
not the work. Every timer here waits for the device before it reads the clock, the way
``torch.utils.benchmark.Timer`` does by default, so a round's time is the time the device spent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = [
    "synchronize",
    "cuda_synchronized_perf_counter",
    "device_timer",
    "CudaEventTimer",
    "WarmupPolicy",
    "WarmupResult",
    "warm_up",
    "time_call",
]


def synchronize(device: torch.device) -> None:
    """Wait for all work queued on ``device`` (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cuda_synchronized_perf_counter() -> float:
    """``time.perf_counter()`` read after the current CUDA device has finished all queued work.

    A module-level function (not a closure) so pytest-benchmark can name it in the JSON's options.
    """
    torch.cuda.synchronize()
    return time.perf_counter()


def device_timer(device: torch.device) -> Callable[[], float]:
    """The clock to time work on ``device`` with: synchronizing on CUDA, plain perf_counter on CPU."""
    if device.type == "cuda":
        return cuda_synchronized_perf_counter
    return time.perf_counter


class CudaEventTimer:
    """Times calls with CUDA events recorded on the current stream (an independent cross-check).

    ``measure(fn, n)`` returns each call's time in seconds, from the GPU's own clock.
    """

    def __init__(self, device: torch.device):
        if device.type != "cuda":
            raise ValueError("CudaEventTimer needs a CUDA device")
        self.device = device

    def measure(self, fn: Callable[[], object], n: int) -> list[float]:
        events = [
            (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)
        ]
        torch.cuda.synchronize(self.device)
        for start, end in events:
            start.record()
            fn()
            end.record()
        torch.cuda.synchronize(self.device)
        return [start.elapsed_time(end) / 1e3 for start, end in events]


def time_call(fn: Callable[[], object], timer: Callable[[], float]) -> float:
    """Seconds one call of ``fn`` takes, read with ``timer`` (synchronized before and after)."""
    start = timer()
    fn()
    return timer() - start


@dataclass(frozen=True)
class WarmupPolicy:
    """Calls made after the first one and before timing starts, so that lazy initialisation,
    cudnn autotuning, allocator growth and compiled-graph caches are out of the measured rounds.

    Runs at least ``min_iters`` calls and keeps going until ``min_time_s`` has passed, but never
    more than ``max_iters`` calls.
    """

    min_iters: int = 2
    min_time_s: float = 0.2
    max_iters: int = 100

    def __post_init__(self):
        if self.min_iters < 0 or self.max_iters < self.min_iters:
            raise ValueError("WarmupPolicy needs 0 <= min_iters <= max_iters")
        if self.min_time_s < 0:
            raise ValueError("WarmupPolicy.min_time_s must be >= 0")


@dataclass(frozen=True)
class WarmupResult:
    iterations: int
    seconds: float


def warm_up(fn: Callable[[], object], policy: WarmupPolicy, timer: Callable[[], float]) -> WarmupResult:
    """Call ``fn`` as ``policy`` says; returns how many calls and how long they took."""
    start = timer()
    iterations = 0
    while iterations < policy.max_iters and (
        iterations < policy.min_iters or timer() - start < policy.min_time_s
    ):
        fn()
        iterations += 1
    return WarmupResult(iterations, timer() - start)
