"""Suspect, confirm, decide: the fresh-session loop of the gate, apart from how sessions are run.

A suspect cell (its time beyond the tolerance and beyond a loose screen, see
:data:`~vbench.compare.policy.SUSPECT_LEVEL`) is re-measured in fresh sessions, ``step`` at a time.
After each step the engine judges the cells on their fresh sessions alone. A cell whose verdict is
no longer inconclusive stops: "unchanged" may stop at any step, "regressed" only once all planned
sessions ran (the engine keeps it inconclusive before), so the repeated looks never spend more than
the one per-check level of the run-level error control.

The gate (:mod:`vbench.pytest_plugin.gate_session`) passes a ``remeasure`` that starts pytest
processes; the tests pass one that draws simulated sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vbench.compare.report import Report, suspect_cells

__all__ = ["CONFIRM_STEP", "Confirmation", "confirm_suspects"]

CONFIRM_STEP = 2  # fresh sessions per step


@dataclass
class Confirmation:
    """The report after the fresh sessions, how many ran (at most, per cell), whether Ctrl-C
    stopped them, and why re-measuring stopped early (None when it did not)."""

    report: Report
    sessions: int = 0
    interrupted: bool = False
    stopped: str | None = None


def confirm_suspects(report: Report, judge: Callable[[], Report],
                     remeasure: Callable[[list[str], int], tuple[int, str | None]], sessions: int,
                     step: int = CONFIRM_STEP, *, shifted_too: bool = False,
                     decided: Callable[[list[str]], None] | None = None) -> Confirmation:
    """Re-measure the suspects of ``report`` with ``remeasure(fullnames, count)`` (returns how many
    sessions ran and, when it had to stop, why) and re-judge with ``judge()`` after each step, until
    no cell is inconclusive or ``sessions`` ran. ``shifted_too``: suspects in a metric the whole
    session moved in are re-measured too (A/B pairs can decide them). ``decided(fullnames)`` is told
    which cells stopped before the last step because they were decided, before the next judgement:
    the gate records it in the cell, so a later judgement (its pooled spread grown by the cells that
    went on) does not ask that cell for pairs it was never going to get."""
    names, done, stopped = suspect_cells(report, shifted_too=shifted_too), 0, None
    while names and done < sessions:
        try:
            ran, why_not = remeasure(names, min(step, sessions - done))
        except KeyboardInterrupt:
            # Ctrl-C while re-measuring: judged on the sessions measured so far; the run exits 2.
            report.notes.append("interrupted while re-measuring suspects in fresh sessions: judged on the "
                                "sessions measured so far")
            return Confirmation(report, done, True)
        done += ran
        if ran:
            report = judge()
        if why_not:
            report.notes.append(why_not)
            stopped = why_not
            break
        still = [r.fullname for r in report.inconclusive if r.fullname in names]
        if decided is not None and done < sessions and len(still) < len(names):
            decided([n for n in names if n not in still])
        names = still
    if done:
        confirmed = {r.fullname for r in report.rows if r.confirm}
        how = (f"A/B pairs against the baseline's commit (up to {done // 2} each; --vb-confirm-sessions)"
               if shifted_too else f"fresh sessions (up to {done} each; --vb-confirm-sessions)")
        report.notes.append(f"{len(confirmed)} suspect cell(s) re-measured in {how}; their verdicts are judged on those")
    return Confirmation(report, done, stopped=stopped)
