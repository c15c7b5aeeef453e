"""Whole-run comparison: every cell and metric of a session judged against K baseline sessions (or,
for ``vbench ab``, paired sessions of two revisions), under one run-level false-alarm level.

Run-level error control: a run is red when any of its checks regresses, so each check is held to
``alpha / m`` with ``m`` the gated checks of the run (Bonferroni: the chance that an unchanged run
has any regressed row is at most ``alpha``, whatever the dependence between checks). The table and
the JSON state ``m``, ``alpha`` and the per-check level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from vbench.compare.policy import LENIENT_LEVEL, SCREEN_MISS, SUSPECT_LEVEL, GatePolicy
from vbench.compare.report import Report, match_cell
from vbench.compare.runs import CellRecord, Run, check_hardware
from vbench.compare.shifts import (
    LOAD_INSENSITIVE, current_shift, drop_outlier_sessions, is_whole_session_shift, log_or_none, log_table, session_shifts,
)
from vbench.compare.stats import Spread, bound, log_values, moderated, one_sided_p, pooled_spread, se_factor
from vbench.compare.verdicts import (
    INCONCLUSIVE, MISSING, MODEL_CHANGED, NEW, NOT_GATED, REGRESSED, UNCHANGED, Metric, Row, decide, gate_metrics,
)

__all__ = ["compare_sessions", "compare_paired", "LOAD_MARGIN"]


@dataclass
class _Check:
    """One (cell, metric) to judge: log values of the baseline sessions (or paired log ratios)."""

    cell: CellRecord
    metric: Metric
    tolerance: float | None
    base: list[float]  # log values (sessions) or log ratios (pairs)
    current: float | None  # log value of this session (None when paired)
    confirm: list[float]  # log values of fresh confirmation sessions
    base_display: float | None
    current_display: float | None
    note: str = ""
    base_load: float | None = None  # median 1-minute load of the baseline sessions while this cell ran
    load: float | None = None  # ... of the session(s) the verdict is judged on
    pairs: list[float] = field(default_factory=list)  # log ratios of the gate's A/B pairs (this / baseline commit)


def _usable(metric: Metric, cur: CellRecord, matches: list[CellRecord]) -> tuple[list[CellRecord], str]:
    """The baseline records a metric may be judged against, and why some were left out."""
    notes = []
    if metric.sampled and any(m.extra.get("unstable") for m in matches):
        matches = [m for m in matches if not m.extra.get("unstable")]
        notes.append("baseline sessions flagged unstable left out")
    if metric.name == "cold_start_s" and (cur.extra.get("compile_cache") or any(m.extra.get("compile_cache") for m in matches)):
        state = cur.extra.get("compile_cache")
        kept = [m for m in matches if m.extra.get("compile_cache") == state]
        if len(kept) < len(matches):
            notes.append(f"compile cache {state or 'unused'} here: only baseline sessions with the same state")
        matches = kept
    return matches, "; ".join(notes)


def _row(check: _Check, spread: Spread, level: float, paired: bool, planned: int,
         pairs: tuple[Spread, float] | None = None) -> Row:
    """Judge one check: against its baseline sessions, or (``paired``) its pairs' log ratios.
    ``pairs``: the pooled spread of the gate's A/B pair ratios and their per-check level, when the
    run planned A/B confirmation."""
    if check.pairs and pairs is not None:
        return _pair_row(check, *pairs)
    metric, tol = check.metric, check.tolerance
    n_baseline = None if paired else len(check.base)
    sigma, df = moderated(check.base, spread)
    if n_baseline is None:  # paired: the change is the mean log ratio
        x, n = float(np.mean(check.base)), len(check.base)
        screen = x
    else:
        screen = check.current - float(np.mean(check.base))
        x, n = screen, 1
        if check.confirm:
            x, n = float(np.mean(check.confirm)) - float(np.mean(check.base)), len(check.confirm)
    factor = se_factor(n, n_baseline)
    b = bound(sigma, df, factor, level, LENIENT_LEVEL)
    notes = [check.note] if check.note else []
    if spread.prior:
        notes.append(f"spread assumed ({spread.sigma:.0%}): fewer than two baseline sessions")
    if check.confirm:
        notes.append(f"this session {math.expm1(screen):+.1%}; {n} fresh session(s) {math.expm1(x):+.1%}")
    row = Row(check.cell.display, metric.name, NOT_GATED, check.base_display, check.current_display,
              math.expm1(x), tol, math.expm1(min(b.strict, 5.0)), None, one_sided_p(x, b.se, b.df) if x > 0 else None,
              len(check.base), len(check.confirm), metric.unit, fullname=check.cell.fullname)
    if tol is None:
        notes.append("not gated (category off)")
    else:
        row.verdict = decide(x, tol, b)
        wanted = check.cell.confirm_planned if check.confirm else 0  # 0: older files, judged as they are
        if row.verdict == REGRESSED and len(check.confirm) < wanted:
            # Looks that may stop early for "regressed" would each spend the per-check level; only the
            # early stop for "unchanged" is free. So a regression waits for all planned sessions.
            row.verdict = INCONCLUSIVE
            notes.append(f"{len(check.confirm)} of {wanted} fresh sessions: a regression is called on all of them")
        screen_bound = bound(sigma, df, se_factor(1, n_baseline), SUSPECT_LEVEL, SUSPECT_LEVEL).strict
        if metric.sampled and not check.confirm and not paired:
            row.suspect = x > math.log1p(tol) and x > screen_bound
            if pairs is not None:
                # A/B pairs decide a suspect cheaply (most stop after one pair): re-measure unless this
                # session rules out a change of twice the tolerance (see SCREEN_MISS).
                rules_out = bound(sigma, df, se_factor(1, n_baseline), SCREEN_MISS, SCREEN_MISS).strict
                row.suspect = row.suspect or x > math.log1p(2 * tol) - rules_out
        if pairs is not None and metric.sampled and not paired:
            # A suspect is decided on A/B pairs: what limits a catch is the tolerance and the pairs'
            # bound (known once some suspect's pairs ran); the screen misses twice the tolerance rarely.
            catch = math.log1p(tol)
            if not pairs[0].prior:
                catch = max(catch, _planned_pair_bound(pairs, [], max(check.cell.confirm_planned, planned, 1)))
        else:
            # The smallest change called a regression: beyond the tolerance, beyond the screen of this
            # session (when fresh sessions would decide) and beyond the strict bound of the sessions judged.
            confirming = not paired and metric.sampled and (check.confirm or planned)
            planned_n = n if (check.confirm or paired) else (planned if confirming else 1)
            catch = max(math.log1p(tol), bound(sigma, df, se_factor(planned_n, n_baseline), level, LENIENT_LEVEL).strict)
            if confirming:
                catch = max(catch, screen_bound)
        row.can_catch = math.expm1(min(catch, 5.0))
        if row.verdict == REGRESSED and metric.category not in LOAD_INSENSITIVE and _busier(check):
            row.verdict = INCONCLUSIVE
            notes.append(f"the machine was busier than during the baseline sessions (load {check.load:.1f} against "
                         f"{check.base_load:.1f}): not called a regression")
        if row.verdict == INCONCLUSIVE:
            more = 2 * max(wanted, planned, 4)
            notes.append(f"more sessions would decide: pytest ... --benchmark-compare --vb-confirm-sessions {more} "
                         f"-k \"{check.cell.label}\"")
        elif row.verdict == UNCHANGED and row.can_catch > 2 * tol:
            notes.append(f"noisy: only a change above {row.can_catch:.0%} could show here")
    row.note = "; ".join(notes)
    return row


# The weight (degrees of freedom) of the pair spread pooled over the suspects against a cell's own
# pairs: fixed, not limma's estimate. The cells that leave after a pair or two are the quiet ones
# (pairs that agree rule out twice the tolerance), so the pool leans low, and their one-degree-of-
# freedom variances hide how much cells differ: on the AMD VM of the 2026-12-06 study bf16, amp and
# compiled cells spread 8-14% per pair and TorchScript 2%. Estimated, the weight reached 40-200
# and shrank a compiled cell's own 8.9% (7 df) to 3.9%, calling an unchanged +7% a regression
# (session 23). With 8, a cell's own 8 pairs (7 df) weigh about as much as the pool: re-judged, none
# of the 13 unchanged sessions judged by then is red, and the Intel VM's injected sessions keep 13 of
# 14 cells slowed 7.5-12.5% caught (4 keeps 9 of 14); judged live with it, 6 more unchanged sessions
# passed (fixtures/gate/study/2026-12-06-aa).
PAIR_PRIOR_DF = 8.0


def _pair_bound(pairs: tuple[Spread, float], ratios: list[float], n: int):
    spread, level = pairs
    sigma, df = moderated(ratios, spread)
    return bound(sigma, df, se_factor(n, None), level, LENIENT_LEVEL)


def _planned_pair_bound(pairs: tuple[Spread, float], ratios: list[float], planned: int) -> float:
    """The strict bound a cell would face with all ``planned`` pairs (for "can catch"): its spread
    so far, each pair still to come adding a degree of freedom, at the last look's level."""
    spread, level = pairs
    sigma, df = moderated(ratios, spread)
    df += max(planned - len(ratios), 0)
    return bound(sigma, df, se_factor(max(planned, len(ratios), 1), None), level / len(_pair_looks(planned)),
                 LENIENT_LEVEL).strict


def _pair_looks(planned: int) -> tuple[int, ...]:
    """After how many pairs a regression may be called: half way and at the end (each look at half
    the per-check level, so the two together spend it once); all of them when fewer than 4 are planned."""
    return (planned // 2, planned) if planned >= 4 else (planned,)


def _pair_row(check: _Check, spread: Spread, level: float) -> Row:
    """Judge a suspect on the gate's A/B pairs against the baseline's commit: the mean log ratio of
    the pairs against a bound from the spread of pair ratios pooled over the suspects. Both revisions
    ran in the same minutes, taking turns round by round, so the machine's drift and a whole-session
    shift land on both sides: no load rule, no whole-session rule. The pairs are independent of the
    session that made the cell a suspect, so they form their own family of the run-level control.

    A cell whose pairs rule out twice the tolerance stops at any pair (that spends nothing); a
    regression is called only at a look (:func:`_pair_looks`), so a large change stops half way."""
    metric, tol, n = check.metric, check.tolerance, len(check.pairs)
    wanted = check.cell.confirm_planned  # 0: a file that does not say, judged as it is
    looks = _pair_looks(wanted) if wanted else (n,)
    look_level = level / len(looks)
    x = float(np.mean(check.pairs))
    b = _pair_bound((spread, look_level), check.pairs, n)
    screen = check.current - float(np.mean(check.base))
    notes = [check.note] if check.note else []
    what = "time" if metric.pair_source != metric.source else metric.name
    notes.append(f"this session {math.expm1(screen):+.1%} against the stored sessions; {n} A/B pair(s) against "
                 f"{check.cell.confirm_against[:10]} {math.expm1(x):+.1%} ({what})")
    row = Row(check.cell.display, metric.name, NOT_GATED, check.base_display, check.current_display,
              math.expm1(x), tol, math.expm1(min(b.strict, 5.0)), None, one_sided_p(x, b.se, b.df) if x > 0 else None,
              len(check.base), n, metric.unit, fullname=check.cell.fullname)
    if tol is None:
        notes.append("not gated (category off)")
    else:
        row.verdict = decide(x, tol, b)
        if row.verdict == REGRESSED and n not in looks:
            row.verdict = INCONCLUSIVE
            notes.append(f"{n} of {wanted} A/B pairs: a regression is called after {' or '.join(map(str, looks))}")
        elif row.verdict != REGRESSED and n < wanted and check.cell.confirm_decided != n \
                and x + _pair_bound((spread, SCREEN_MISS), check.pairs, n).strict >= math.log1p(2 * tol):
            # Before the last pair a cell leaves only when its pairs rule out twice the tolerance, as
            # the screen asks of a session: one pair's noise (3-5% in the study) would let a real 8%
            # change go after a pair that happened to say +2%. A cell that left so (the gate records
            # it) keeps that decision when the pooled spread later grows with the cells that went on.
            row.verdict = INCONCLUSIVE
            notes.append(f"{n} of {wanted} A/B pairs: twice the tolerance not ruled out yet")
        row.can_catch = math.expm1(min(max(math.log1p(tol), _planned_pair_bound((spread, level), check.pairs,
                                                                                 max(n, wanted))), 5.0))
        if row.verdict == INCONCLUSIVE:
            notes.append(f"more pairs would decide: pytest ... --benchmark-compare --vb-confirm-sessions "
                         f"{2 * max(wanted, 4)} -k \"{check.cell.label}\"")
    row.note = "; ".join(notes)
    return row


# One more busy core, on average, than while the baseline sessions ran: the evidence measured the
# other work as much as the code. Measured: a study session during a full test suite beside it
# (load 3.6 against 1.1-2.0) had 7 cells "confirmed" +17% to +81% by fresh sessions just as loaded.
LOAD_MARGIN = 1.0


def _busier(check: _Check) -> bool:
    return check.load is not None and check.base_load is not None and check.load > check.base_load + LOAD_MARGIN


def _judge(report: Report, entries: list[Row | _Check], policy: GatePolicy, paired: bool, planned: int,
           split: bool = False) -> None:
    """Fill ``report.rows`` from ``entries`` (rows already decided, and checks to judge) in order.
    ``split``: the run planned A/B confirmation of its suspects, so half of alpha goes to the checks
    against stored sessions and half to those judged on A/B pairs."""
    checks = [e for e in entries if isinstance(e, _Check)]
    spreads: dict[str, Spread] = {}
    pair_spreads: dict[str, Spread] = {}
    for metric in gate_metrics():
        groups = [c.base for c in checks if c.metric is metric]
        if groups:
            spreads[metric.name] = pooled_spread(groups, metric.prior_sigma)
        if split:  # before any pair ran (the "can catch" column), the wide prior stands in
            pair_groups = [c.pairs for c in checks if c.metric is metric and c.pairs]
            pair_spreads[metric.name] = pooled_spread(pair_groups, metric.prior_sigma, prior_df=PAIR_PRIOR_DF)
    report.spreads = {k: round(s.sigma, 5) for k, s in spreads.items()}
    report.checks = sum(c.tolerance is not None for c in checks)
    report.split = split
    report.pair_checks = sum(c.tolerance is not None and bool(c.pairs) for c in checks)
    report.pair_judged = {(c.cell.fullname, c.metric.name) for c in checks if c.pairs}
    level = report.level or policy.alpha
    pair_level = report.pair_level or (policy.alpha / 2)
    for entry in entries:
        if isinstance(entry, _Check):
            name = entry.metric.name
            pairs = (pair_spreads[name], pair_level) if split else None
            entry = _row(entry, spreads[name], level, paired, planned, pairs)
        report.rows.append(entry)


def _equal_row(metric: Metric, cur: CellRecord, base: CellRecord) -> Row | None:
    b, c = metric.value(base), metric.value(cur)
    if b is None and c is None:
        return None
    if b is None or c is None:
        return Row(cur.display, metric.name, NEW if b is None else MISSING, b, c, unit=metric.unit,
                   note="only the " + ("current run" if b is None else "baseline") + " has it", fullname=cur.fullname)
    same = math.isclose(b, c, rel_tol=1e-9)
    return Row(cur.display, metric.name, UNCHANGED if same else MODEL_CHANGED, b, c, 0.0 if same else c / b - 1,
               unit=metric.unit, fullname=cur.fullname)


def compare_sessions(
    baselines: Sequence[Run],
    current: Run,
    policy: GatePolicy | None = None,
    *,
    allow_foreign: bool = False,
    confirm_planned: int = 0,
    keep: int | None = None,
    windows: Mapping[tuple[str, str], frozenset[str]] | None = None,
) -> Report:
    """Judge every cell of ``current`` (one session, with any fresh confirmation sessions in its
    cells' ``gate_confirm``) against ``baselines`` (sessions, oldest first): the newest ``keep``
    (all when None) of those left after whole-session outliers are left out.

    ``confirm_planned``: fresh sessions the gate runs for a suspect cell (for the "can catch"
    column). ``windows`` (from the history, :func:`vbench.history.baseline_windows`): per (baseline
    cell fullname, metric name), the sources of the sessions after its last accepted change point; that
    check is judged against those of ``baselines`` only, when at least two of them are among them.
    Raises :class:`~vbench.compare.runs.ForeignBaselineError` when a hardware key differs
    and ``allow_foreign`` is false; with it, every row is marked cross-hardware.
    """
    policy = policy or GatePolicy()
    baselines = list(baselines)
    cross = any([check_hardware(b, current.hardware_key, allow_foreign=allow_foreign) for b in baselines])
    judged = [m for m in gate_metrics() if not m.equal]
    baselines, left_out = drop_outlier_sessions(
        baselines, judged, lambda m: policy.tolerances.get(m.category), match_cell)
    if keep:
        baselines = baselines[-keep:]
    newest = baselines[-1]
    source = newest.source if len(baselines) == 1 else f"{len(baselines)} sessions, {baselines[0].source} .. {newest.source}"
    report = Report(source, current.source, newest.hardware_key, current.hardware_key, cross, policy=policy,
                    sessions=len(baselines), notes=left_out, baseline_files=[b.source for b in baselines])
    entries: list[Row | _Check] = []
    matched: set[str] = set()
    for cur in current.cells.values():
        sourced = [(b.source, m) for b in baselines if (m := match_cell(b, cur)) is not None]
        matches = [m for _, m in sourced]
        if not matches:
            entries.append(Row(cur.display, "-", NEW, note="not in the baseline", fullname=cur.fullname))
            continue
        matched.update(m.fullname for m in matches)
        for metric in gate_metrics():
            if metric.equal:
                if (row := _equal_row(metric, cur, matches[-1])) is not None:
                    entries.append(row)
                continue
            window, window_note = _after_step(metric, sourced, windows)
            if window_note:
                report.windowed.add((cur.fullname, metric.name))
            usable, note = _usable(metric, cur, window)
            note = "; ".join(n for n in (window_note, note) if n)
            values = [v for m in usable if (v := metric.value(m)) is not None]
            value = metric.value(cur)
            if (value is not None and not log_values([value])) or (values and not log_values(values)):
                entries.append(Row(cur.display, metric.name, NOT_GATED, None, value, unit=metric.unit, fullname=cur.fullname,
                                   note="not a positive finite number in this run or the baseline: not judged"))
                continue
            values = [v for v in values if log_values([v])]
            if value is None and not values:
                if note and metric.value(matches[-1]) is not None:
                    entries.append(Row(cur.display, metric.name, NOT_GATED, unit=metric.unit, note=note,
                                           fullname=cur.fullname))
                continue
            if value is None or not values:
                verdict = NOT_GATED if note else (MISSING if value is None else NEW)
                entries.append(Row(cur.display, metric.name, verdict, None, value, unit=metric.unit,
                                       note=note or f"only the {'baseline' if value is None else 'current run'} has it",
                                       fullname=cur.fullname))
                continue
            confirm = log_values(metric.confirm_values(cur))
            base_loads = [m.extra["load_avg_1m"] for m in usable if isinstance(m.extra.get("load_avg_1m"), (int, float))]
            # the sessions the verdict rests on: the fresh ones (older files did not record their load)
            loads = (confirm and cur.confirm_loads()) or [cur.extra.get("load_avg_1m")]
            loads = [v for v in loads if isinstance(v, (int, float))]
            entries.append(_Check(
                cur, metric, policy.tolerance(cur.label, metric.category), log_values(values), math.log(value),
                confirm, float(np.exp(np.mean(np.log(values)))) * metric.scale, value * metric.scale, note,
                float(np.median(base_loads)) if base_loads else None, float(np.median(loads)) if loads else None,
                metric.pair_log_ratios(cur)))
    deselected = 0
    for name, base in newest.cells.items():
        if name in matched:
            continue
        if name in current.deselected:  # -k / -m: not compared, said once below
            deselected += 1
            continue
        reason = current.skipped.get(base.label)
        note = f"skipped in this run: {reason}" if reason else "in the baseline, not collected in this run"
        entries.append(Row(base.display, "-", MISSING, note=note, fullname=base.fullname))
    if deselected:
        report.notes.append(f"{deselected} baseline cell(s) deselected in this run (-k/-m): not compared")
    split = bool(current.confirm_against) or any(isinstance(e, _Check) and e.pairs for e in entries)
    _judge(report, entries, policy, False, confirm_planned, split)
    _whole_session_shifts(report, baselines, current, policy)
    if cross:
        for row in report.rows:
            row.note = "cross-hardware" + (f"; {row.note}" if row.note else "")
    return report


def _after_step(metric: Metric, sourced: list[tuple[str, CellRecord]],
                windows: Mapping[tuple[str, str], frozenset[str]] | None) -> tuple[list[CellRecord], str]:
    """The baseline records of one cell and metric after its last accepted change point (all of them
    without one, or when fewer than two baseline sessions follow it), and a note when that shortened
    them."""
    window = windows.get((sourced[-1][1].fullname, metric.name)) if windows else None
    inside = [m for source, m in sourced if window is not None and source in window]
    if len(inside) >= 2 and len(inside) < len(sourced):
        return inside, f"baseline: the {len(inside)} session(s) after a step in the history"
    return [m for _, m in sourced], ""


def _whole_session_shifts(report: Report, baselines: list[Run], current: Run, policy: GatePolicy) -> None:
    """Regressed rows of a metric this whole session moved in become inconclusive (see shifts.py)."""
    for metric in gate_metrics():
        tol = policy.tolerances.get(metric.category) if metric.category else None
        if metric.equal or tol is None or metric.category in LOAD_INSENSITIVE:
            continue
        table = log_table(baselines, current.cells.values(), metric, match_cell)
        current_values = [log_or_none(metric.value(cur)) for cur in current.cells.values()]
        shift = current_shift(table, current_values)
        if not is_whole_session_shift(shift, session_shifts(table), tol):
            continue
        cells = sum(v is not None for v in current_values)
        why = (f"the whole session moved {math.expm1(shift):+.0%} in {metric.name} (median over {cells} cells): "
               "the machine, or a change that touches every cell; not called a regression")
        report.notes.append(why)
        report.shifted.add(metric.name)
        for row in report.rows:
            # A row judged after an accepted step has its own level: the shift against all K sessions,
            # some from before the step, says nothing about it.
            key = (row.fullname, row.metric)
            windowed, on_pairs = key in report.windowed, key in report.pair_judged
            if row.metric == metric.name and row.verdict == REGRESSED and not windowed and not on_pairs:
                row.verdict = INCONCLUSIVE
                row.note = "; ".join(n for n in (row.note, why) if n)


def compare_paired(pairs: Sequence[tuple[Run, Run]], policy: GatePolicy | None = None, *, source: str = "A",
                   current: str = "B") -> Report:
    """Judge B against A from session pairs taken in turns (``vbench ab``): per cell and metric, the
    log ratio B/A of each pair (``norm_time`` by the rounds' time, see
    :attr:`~vbench.compare.verdicts.Metric.pair_source`), their mean against a bound from the pooled
    spread of pair ratios."""
    policy = policy or GatePolicy()
    pairs = list(pairs)
    a0, b0 = pairs[0]
    report = Report(source, current, a0.hardware_key, b0.hardware_key, policy=policy, sessions=len(pairs))
    entries: list[Row | _Check] = []
    for name in a0.cells.keys() - b0.cells.keys():
        base = a0.cells[name]
        entries.append(Row(base.display, "-", MISSING, note="in A, not in B (skipped or failed there?)",
                           fullname=base.fullname))
    for name, cur in b0.cells.items():
        if name not in a0.cells:
            entries.append(Row(cur.display, "-", NEW, note="in B, not in A", fullname=cur.fullname))
            continue
        for metric in gate_metrics():
            if metric.equal:
                base = a0.cells.get(name)
                if base is not None and (row := _equal_row(metric, cur, base)) is not None:
                    entries.append(row)
                continue
            ratios, a_values, b_values = [], [], []
            for a, b in pairs:
                va = metric.pair_value(a.cells[name]) if name in a.cells else None
                vb = metric.pair_value(b.cells[name]) if name in b.cells else None
                if va and vb and va > 0 and vb > 0:
                    ratios.append(math.log(vb / va))
                    a_values.append(va)
                    b_values.append(vb)
            if not ratios:
                continue
            entries.append(_Check(cur, metric, policy.tolerance(cur.label, metric.category), ratios, None, [],
                                 float(np.median(a_values)) * metric.scale, float(np.median(b_values)) * metric.scale))
    _judge(report, entries, policy, True, 0)
    return report
