"""Whole-session effects: a session whose every cell moved together.

A shared machine slows a whole session at times (other tenants, a loaded CI runner): every cell's
cold start doubles at once, or every time ratio drifts. Unchanged code does not do that to one
session, and a real regression rarely touches every cell of a matrix. So, per gated metric, a
session's *shift* is the median over cells of its log change against the other sessions:

- a baseline session whose shift against the others is beyond the metric's tolerance
  (:func:`drop_outlier_sessions`) is left out, with a note, so one loaded run on main does not blind
  the gate for the next K (the others' median is the reference, so with five sessions two such
  sessions are still found; a scale estimated from five shifts is not: two outliers inflate it);
- a current session whose shift is far beyond what the baseline sessions show among themselves
  (:func:`whole_session_shift`) cannot call a regression on that metric: such rows are inconclusive,
  with the shift in the note (``--vb-fail-on-inconclusive`` fails on them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from vbench.compare.runs import CellRecord, Run

__all__ = ["LOAD_INSENSITIVE", "log_or_none", "log_table", "MIN_CELLS", "SHIFT_Z", "session_shifts", "shift_scale", "drop_outlier_sessions", "is_whole_session_shift",
           "current_shift"]

MIN_CELLS = 8  # fewer cells: no session-wide judgement
SHIFT_Z = 4.0  # how many robust standard deviations of the baseline sessions' shifts


# Memory does not move with the machine's load: a whole-session change there is the code's.
LOAD_INSENSITIVE = ("memory", "rss")


def log_or_none(value: float | None) -> float | None:
    """The natural log of a positive finite ``value``; None otherwise."""
    return math.log(value) if value is not None and math.isfinite(value) and value > 0 else None


def log_table(runs: Sequence[Run], cells: Iterable[CellRecord], metric,
              match: Callable[[Run, CellRecord], CellRecord | None]) -> list[list[float | None]]:
    """Rows per cell of ``cells``, columns per run: the log of ``metric``'s value of that cell in that
    run (None where the run lacks the cell or the value)."""
    table = []
    for cell in cells:
        records = [match(run, cell) for run in runs]
        table.append([log_or_none(metric.value(r)) if r is not None else None for r in records])
    return table


def session_shifts(table: list[list[float | None]]) -> list[float | None]:
    """Per session (columns of ``table``, rows are cells of log values): the median over cells of the
    session's value minus the median of all sessions' values of that cell (itself included, so that
    with three sessions one outlier does not drag the reference of the other two); None without
    enough cells."""
    sessions = len(table[0]) if table else 0
    out: list[float | None] = []
    for j in range(sessions):
        diffs = []
        for row in table:
            present = [v for v in row if v is not None]
            if row[j] is not None and len(present) >= 2:
                diffs.append(row[j] - float(np.median(present)))
        out.append(float(np.median(diffs)) if len(diffs) >= MIN_CELLS else None)
    return out


def current_shift(table: list[list[float | None]], current: list[float | None]) -> float | None:
    """The median over cells of ``current`` (log values) minus the median of the baseline sessions'
    values of that cell (rows of ``table``); None without enough cells."""
    diffs = [c - float(np.median(present)) for row, c in zip(table, current)
             if c is not None and (present := [v for v in row if v is not None])]
    return float(np.median(diffs)) if len(diffs) >= MIN_CELLS else None


def shift_scale(shifts: Sequence[float | None]) -> float:
    """Robust standard deviation of session shifts (1.4826 x median absolute shift); 0 for none."""
    values = [abs(s) for s in shifts if s is not None]
    return 1.4826 * float(np.median(values)) if values else 0.0


def drop_outlier_sessions(
    baselines: Sequence[Run], metrics: Sequence, tolerance: Callable[[object], float | None],
    match: Callable[[Run, CellRecord], CellRecord | None],
) -> tuple[list[Run], list[str]]:
    """The baseline sessions without those whose shift in a gated, load-sensitive metric is beyond
    its tolerance; with a note each. Needs at least three sessions and keeps at least two. The newest
    session is never left out: when it is itself beyond the tolerance, the newest sessions may have
    moved together after a change on main (a step, not a loaded machine), so all are kept and the
    bounds widen instead."""
    baselines = list(baselines)
    if len(baselines) < 3:
        return baselines, []
    newest = baselines[-1]
    dropped: dict[int, str] = {}
    for metric in metrics:
        tol = tolerance(metric)
        if tol is None or metric.category in LOAD_INSENSITIVE:
            continue
        shifts = session_shifts(log_table(baselines, newest.cells.values(), metric, match))
        limit = math.log1p(tol)
        if shifts and shifts[-1] is not None and abs(shifts[-1]) > limit:
            continue  # the newest moved: a step on main or a loaded last run; keep them all
        for j, shift in enumerate(shifts):
            if shift is not None and abs(shift) > limit and j not in dropped:
                dropped[j] = (f"baseline session {baselines[j].source} left out: its cells' {metric.name} were "
                              f"{math.expm1(shift):+.0%} against the other sessions' (a loaded machine?)")
    if len(baselines) - len(dropped) < 2:
        return baselines, []
    return [b for j, b in enumerate(baselines) if j not in dropped], list(dropped.values())


def is_whole_session_shift(shift: float | None, baseline_shifts: Sequence[float | None], tol: float) -> bool:
    """Whether the current session's ``shift`` is beyond its tolerance and :data:`SHIFT_Z` robust
    standard deviations of the baseline sessions' own shifts."""
    if shift is None:
        return False
    return abs(shift) > max(math.log1p(tol), SHIFT_Z * shift_scale(baseline_shifts))
