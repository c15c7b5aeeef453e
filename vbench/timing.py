"""Device-synchronized timers and the warm-up policy.

CUDA kernels run asynchronously: reading a host clock after launching them measures the launch,
not the work. Every timer here waits for the device before it reads the clock, the way
``torch.utils.benchmark.Timer`` does by default, so a round's time is the time the device spent.

Timed rounds go through pytest-benchmark's ``benchmark`` fixture (:func:`timed_rounds`). pytest-benchmark
calibrates and times a plain ``benchmark(step)``. When something must happen before every round
outside the timed region (a turn granted by ``vbench ab``'s coordinator, the machine probe timed right
next to the round), or the workload fixes the number of rounds, the rounds go through
``benchmark.pedantic`` with a ``setup``, and vbench chooses their number the way pytest-benchmark would:
enough rounds to fill ``--benchmark-max-time``, at least ``--benchmark-min-rounds``.

The probe (:mod:`vbench.metrics.probe`) is fixed plain-torch work; round ``i``'s ``norm_time`` sample is the
cell's time over the probe's time taken just before it. A machine that got slower for a while (other
tenants, frequency, a noisy neighbour) slows both, and the ratio cancels it; the cost is one probe
call (about 2 ms on one core) per round instead of a second timing pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

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
    "RoundsResult",
    "planned_rounds",
    "timed_rounds",
]

_MAX_ROUNDS = 100_000


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


@dataclass
class RoundsResult:
    """What the rounds recorded besides pytest-benchmark's own samples: ``probe_s`` (the probe's
    time before each round; empty without a probe)."""

    probe_s: list[float] = field(default_factory=list)

    def norm_time_samples(self, round_times: list[float]) -> list[float]:
        """Each round's time over the probe's time just before it (empty without a probe)."""
        return [t / p for t, p in zip(round_times, self.probe_s) if p > 0]


def planned_rounds(benchmark, estimate_s: float) -> int:
    """Rounds of one call each to fill the fixture's max time, at least its min rounds.

    ``--benchmark-max-time`` and ``--benchmark-min-rounds`` come from the fixture
    (:func:`vbench.pytest_plugin.benchmark_adapter.fixture_limits`).
    """
    from vbench.pytest_plugin.benchmark_adapter import fixture_limits

    max_time, min_rounds = fixture_limits(benchmark)
    rounds = math.ceil(max_time / estimate_s) if estimate_s > 0 else min_rounds
    return int(min(max(rounds, min_rounds, 1), _MAX_ROUNDS))


def timed_rounds(
    benchmark,
    step: Callable[[], object],
    *,
    cell_id: str = "",
    turns=None,
    probe: Callable[[], object] | None = None,
    timer: Callable[[], float] | None = None,
    estimate_s: float = 0.0,
    rounds: int | None = None,
) -> RoundsResult:
    """Time ``step`` through ``benchmark``.

    Without ``turns``, ``probe`` and ``rounds`` pytest-benchmark calibrates and runs its own rounds.
    Otherwise rounds of one call each: ``turns.spec.rounds`` when taking turns with another session
    (each round after the turn is granted), else ``rounds`` when the workload fixes them, else
    :func:`planned_rounds` from ``estimate_s`` (seconds one call takes, from the warm-up); with
    ``probe``, the probe is timed with ``timer`` right before each round, outside the timed region.
    """
    result = RoundsResult()
    if turns is None and probe is None and rounds is None:
        benchmark(step)
        return result

    def setup() -> None:
        if turns is not None:
            turns.before_round(cell_id)
        if probe is not None:
            result.probe_s.append(time_call(probe, timer))

    if turns is not None:
        rounds = turns.spec.rounds
    elif rounds is None:
        rounds = planned_rounds(benchmark, estimate_s)
    try:
        benchmark.pedantic(step, setup=setup, rounds=rounds, iterations=1)
    finally:
        if turns is not None:
            turns.release()
    return result
