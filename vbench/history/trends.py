"""Change points of every series, as steps a reader can act on, and the gate's baseline window.

A step is a change point (:func:`vbench.history.changepoints.e_divisive` on the log values of one
cell's metric) told as: the last session before it and the first after it (their commits are the
range to look in, ``git log BEFORE..AFTER``), its size (the geometric mean of the segment after it
over the segment before it, minus one) and the permutation p-value (how sure).

The gate's window: the newest K sessions after the last *accepted* change point. A change point is
accepted when it is stored (every session in the gate's storage was autosaved on main), significant
at :data:`GATE_ALPHA` and larger than the metric's tolerance, so an improvement or an accepted
regression starts a new baseline by itself while noise-sized splits do not shorten it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from vbench.compare.policy import DEFAULT_BASELINE_RUNS
from vbench.history.changepoints import ALPHA, MIN_SIZE, e_divisive
from vbench.compare.runs import Run
from vbench.history.series import History, Series, Session, build_history

__all__ = ["GATE_ALPHA", "Step", "Trend", "trend_of", "gate_trend", "analyse", "Windows", "baseline_windows", "gate_windows"]

# Stricter than the history's default: a spurious split here shortens a cell's baseline, and the
# sessions after a split chosen for being different are not a fair sample of the code's level.
GATE_ALPHA = 0.01


@dataclass(frozen=True)
class Step:
    """One change point of a series: between sessions ``before`` and ``after`` (indices into the
    history's sessions), ``size`` = after / before - 1 (geometric means of the segments), ``p_value``."""

    before: int
    after: int
    size: float
    p_value: float


@dataclass
class Trend:
    """A series with its steps, the segments they cut it into (session index ranges, end exclusive),
    its total change (newest segment over the oldest, minus one; None without a step) and the gate's
    baseline window (session indices)."""

    series: Series
    steps: list[Step] = field(default_factory=list)
    segments: list[tuple[int, int]] = field(default_factory=list)
    total: float | None = None
    window: list[int] = field(default_factory=list)


def _geo_mean(logs: Sequence[float]) -> float:
    """The mean of log values: the log of the geometric mean."""
    return float(np.mean(logs))


def trend_of(series: Series, *, alpha: float = ALPHA, min_size: int = MIN_SIZE, baseline_runs: int = DEFAULT_BASELINE_RUNS,
             min_step: float = 0.0) -> Trend:
    """The steps of ``series`` at ``alpha`` whose size is beyond ``min_step`` (a fraction), and the
    window of the newest ``baseline_runs`` sessions after the last of them (fewer than two after it:
    the newest ``baseline_runs`` sessions, as if there were no step)."""
    present = series.present()
    indices = [i for i, _ in present]
    logs = [math.log(v) for _, v in present]
    trend = Trend(series)
    points = {cp.index: cp for cp in e_divisive(logs, alpha=alpha, min_size=min_size)}
    cuts = [0, *sorted(points), len(logs)]
    kept = [0]
    for k in range(1, len(cuts) - 1):
        before = logs[kept[-1]:cuts[k]]
        after = logs[cuts[k]:cuts[k + 1]]
        size = math.expm1(_geo_mean(after) - _geo_mean(before))
        if abs(size) <= min_step:
            continue  # too small to count: the segments on both sides are one
        cp = points[cuts[k]]
        trend.steps.append(Step(indices[cuts[k] - 1], indices[cuts[k]], size, cp.p_value))
        kept.append(cuts[k])
    kept.append(len(logs))
    trend.segments = [(indices[a], indices[b - 1] + 1) for a, b in zip(kept[:-1], kept[1:]) if b > a]
    if trend.steps:
        trend.total = math.expm1(_geo_mean(logs[kept[-2]:]) - _geo_mean(logs[:kept[1]]))
    after_last = [i for i in indices if not trend.steps or i >= trend.steps[-1].after]
    trend.window = (after_last if len(after_last) >= 2 else indices)[-baseline_runs:]
    return trend


def gate_trend(series: Series, tolerance: float | None, baseline_runs: int = DEFAULT_BASELINE_RUNS) -> Trend | None:
    """The series as the gate sees it: only accepted change points (significant at
    :data:`GATE_ALPHA`, beyond ``tolerance``); None for a metric the gate does not judge."""
    if tolerance is None:
        return None
    return trend_of(series, alpha=GATE_ALPHA, min_step=tolerance, baseline_runs=baseline_runs)


def analyse(history: History, tolerance: Callable[[Series], float | None], *, alpha: float = ALPHA,
            min_size: int = MIN_SIZE, baseline_runs: int = DEFAULT_BASELINE_RUNS) -> list[Trend]:
    """A :class:`Trend` for every series of ``history``: its steps at ``alpha``, and as its window the
    gate's baseline window (empty for a metric the gate does not judge, ``tolerance`` None)."""
    trends = []
    for series in history.series:
        trend = trend_of(series, alpha=alpha, min_size=min_size, baseline_runs=baseline_runs)
        gate = gate_trend(series, tolerance(series), baseline_runs)
        trend.window = gate.window if gate is not None else []
        trends.append(trend)
    return trends


@dataclass
class Windows:
    """For the gate: per (cell fullname, metric name), the sources of the sessions after its last
    accepted change point, and one note per such cell and metric."""

    sessions: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _where(session: Session) -> str:
    return session.label


def baseline_windows(history: History, tolerance: Callable[[Series], float | None]) -> Windows:
    """Per series of ``history`` whose metric is gated (``tolerance`` is not None), the sessions after
    its last accepted change point (significant at :data:`GATE_ALPHA`, beyond the tolerance), when at
    least two follow it; a note for each, and one when fewer than two do."""
    out = Windows()
    for series in history.series:
        trend = gate_trend(series, tolerance(series), len(history.sessions))
        if trend is None or not trend.steps:
            continue
        step = trend.steps[-1]
        after = [i for i, _ in series.present() if i >= step.after]
        at = (f"{series.cell} {series.metric.name}: step {step.size:+.1%} between {_where(history.sessions[step.before])} "
              f"and {_where(history.sessions[step.after])} (p={step.p_value:.3f})")
        if len(after) < 2:
            out.notes.append(f"{at}; fewer than 2 sessions after it: judged against the newest sessions as before")
            continue
        out.sessions[(series.fullname, series.metric.name)] = frozenset(history.sessions[i].source for i in after)
        out.notes.append(f"{at}: its baseline is the {len(after)} stored session(s) after it")
    return out


def gate_windows(runs: Sequence[Run], hardware_key: str | None, tolerance: Callable[[str, str | None], float | None]) -> Windows:
    """The gate's :class:`Windows` from its stored sessions ``runs`` (those of ``hardware_key`` only),
    with ``tolerance(cell_label, category)``; one summary note instead of one per series."""
    runs = [r for r in runs if r.hardware_key == hardware_key and r.complete is not False]
    if len(runs) < 2 * MIN_SIZE:
        return Windows()
    history = build_history(runs, hardware=hardware_key)
    windows = baseline_windows(history, lambda s: tolerance(s.label, s.metric.category))
    if windows.notes:
        shown = windows.notes[0] + (f"; and {len(windows.notes) - 1} more" if len(windows.notes) > 1 else "")
        windows.notes = [f"history of {len(history.sessions)} stored sessions: {shown} (vbench history shows them)"]
    return windows
