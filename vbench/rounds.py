"""Timed rounds through pytest-benchmark's ``benchmark`` fixture, optionally each after a machine probe.

pytest-benchmark calibrates and times a plain ``benchmark(step)``. When something must happen
before every round outside the timed region (a turn granted by ``vbench ab``'s coordinator, the
machine probe timed right next to the round), the rounds go through ``benchmark.pedantic`` with a
``setup`` and vbench chooses their number the way pytest-benchmark would: enough rounds to fill
``--benchmark-max-time``, at least ``--benchmark-min-rounds``.

The probe (:mod:`vbench.probe`) is fixed plain-torch work; round ``i``'s ``norm_time`` sample is the
cell's time over the probe's time taken just before it. A machine that got slower for a while (other
tenants, frequency, a noisy neighbour) slows both, and the ratio cancels it; the cost is one probe
call (about 2 ms on one core) per round instead of a second timing pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from vbench.timing import time_call

__all__ = ["RoundsResult", "planned_rounds", "timed_rounds"]

_MAX_ROUNDS = 100_000


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
    (:func:`vbench.benchmark_adapter.fixture_limits`).
    """
    from vbench.benchmark_adapter import fixture_limits

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
) -> RoundsResult:
    """Time ``step`` through ``benchmark``.

    Without ``turns`` and ``probe`` pytest-benchmark calibrates and runs its own rounds. Otherwise
    rounds of one call each: ``turns.spec.rounds`` when taking turns with another session (each
    round after the turn is granted), else :func:`planned_rounds` from ``estimate_s`` (seconds one
    call takes, from the warm-up); with ``probe``, the probe is timed with ``timer`` right before
    each round, outside the timed region.
    """
    result = RoundsResult()
    if turns is None and probe is None:
        benchmark(step)
        return result

    def setup() -> None:
        if turns is not None:
            turns.before_round(cell_id)
        if probe is not None:
            result.probe_s.append(time_call(probe, timer))

    rounds = turns.spec.rounds if turns is not None else planned_rounds(benchmark, estimate_s)
    try:
        benchmark.pedantic(step, setup=setup, rounds=rounds, iterations=1)
    finally:
        if turns is not None:
            turns.release()
    return result
