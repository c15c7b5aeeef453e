"""Per-cell, per-metric verdicts: tiny strategy classes, one per kind of metric.

- :class:`SampledCheck` judges a statistic of raw samples (latency median and p90, throughput,
  relative time): regressed only when the change is beyond the tolerance **and** significant.
- :class:`ScalarCheck` judges a near-deterministic number (memory, cold start) against its tolerance.
- :class:`EqualCheck` wants equality (gmacs, params): a difference is "model changed", not a regression.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from vbench.compare.policy import GatePolicy
from vbench.compare.runs import CellRecord
from vbench.compare.stats import compare_samples, session_spread

__all__ = [
    "REGRESSED", "IMPROVED", "UNCHANGED", "NEW", "MISSING", "MODEL_CHANGED", "VERDICTS",
    "Row", "SampledCheck", "ScalarCheck", "EqualCheck", "CHECKS", "SAMPLED_CHECKS", "judge_cell",
]

REGRESSED, IMPROVED, UNCHANGED = "regressed", "improved", "unchanged"
NEW, MISSING, MODEL_CHANGED = "new", "missing", "model changed"
VERDICTS = (REGRESSED, IMPROVED, UNCHANGED, NEW, MISSING, MODEL_CHANGED)


@dataclass
class Row:
    """One line of the verdict table. ``change`` is current/baseline - 1; ``band`` the noise band
    (fraction); ``low``/``high`` the interval of current/baseline; ``p_value`` Mann-Whitney U."""

    cell: str
    metric: str
    verdict: str
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    tolerance: float | None = None
    band: float | None = None
    p_value: float | None = None
    low: float | None = None
    high: float | None = None
    unit: str = ""
    note: str = ""
    fullname: str = ""  # the cell's pytest-benchmark fullname (labels repeat across modes)

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _direction_verdict(worse_by: float, tolerance: float | None, significant: bool = True) -> str:
    if tolerance is None or not significant:
        return UNCHANGED
    if worse_by > tolerance:
        return REGRESSED
    if -worse_by > tolerance:
        return IMPROVED
    return UNCHANGED


@dataclass(frozen=True)
class SampledCheck:
    """A statistic of raw samples; ``invert`` for throughput (batch / median: higher is better)."""

    metric: str
    category: str
    stat: str = "median"
    source: str = "time"  # see CellRecord.samples_of
    scale: float = 1e3  # seconds -> ms for display
    unit: str = "ms"
    invert: bool = False

    def samples(self, cell: CellRecord) -> list[float] | None:
        return cell.samples_of(self.source)

    def judge(self, label: str, base: CellRecord, cur: CellRecord, policy: GatePolicy) -> Row | None:
        """The verdict on the timed rounds. A regression must also show in each confirmation the
        gate ran: the re-measure in the same process (a noise burst rarely hits both), then the one
        in a fresh process (a process's own offset does not carry over); else it is not one."""
        b, c = self.samples(base), self.samples(cur)
        if not b or not c:
            if b or c:
                return Row(label, self.metric, MISSING if b else NEW, unit=self.unit,
                           note=f"only the {'baseline' if b else 'current run'} has samples")
            return None
        row = self._compare(label, b, c, base, cur, policy)
        again = cur.confirm_samples(self.source)
        if again and row.verdict == REGRESSED:
            confirmed = self._compare(label, b, again, base, cur, policy)
            if confirmed.verdict != REGRESSED:
                row.verdict = UNCHANGED
                row.note = _joined(row.note, f"not confirmed: a re-measure of {len(again)} gave {confirmed.change:+.1%}")
                return row
            confirmed.note = _joined(confirmed.note, f"confirmed: {row.change:+.1%} in the timed rounds, "
                                                     f"{confirmed.change:+.1%} in a re-measure of {len(again)}")
            row = confirmed
        fresh = cur.confirm_samples(self.source, fresh=True)
        if fresh and row.verdict == REGRESSED:
            elsewhere = self._compare(label, b, fresh, base, cur, policy)
            if elsewhere.verdict == REGRESSED:
                row.note = _joined(row.note, f"again in a fresh process: {elsewhere.change:+.1%}")
            else:
                row.verdict = UNCHANGED
                row.note = _joined(row.note, f"not confirmed in a fresh process: {elsewhere.change:+.1%}")
        return row

    def _compare(self, label: str, b: list[float], c: list[float], base: CellRecord, cur: CellRecord,
                 policy: GatePolicy) -> Row:
        cmp = compare_samples(b, c, self.stat)
        tol = policy.tolerance(label, self.category)
        # A pooled baseline shows how far whole sessions disagree; a change within that is not one.
        spread = session_spread(base.session_samples(self.source), self.stat)
        widened = tol is not None and spread is not None and spread > tol
        if widened:
            tol = spread
        ratio, low, high = cmp.ratio, cmp.low, cmp.high
        baseline, current = cmp.baseline * self.scale, cmp.current * self.scale
        if self.invert:  # throughput = batch / latency: the ratio and its interval flip
            batch = float(cur.extra.get("batch_size") or base.extra.get("batch_size") or 1)
            baseline, current = batch / cmp.baseline, batch / cmp.current
            ratio, low, high = 1 / cmp.ratio, 1 / cmp.high, 1 / cmp.low
        change = ratio - 1
        worse_by = -change if self.invert else change
        verdict = _direction_verdict(worse_by, tol, cmp.significant(policy.alpha))
        note = ""
        if verdict == UNCHANGED and tol is not None and abs(worse_by) > tol:
            note = "beyond tolerance but not significant"
        if widened:
            sessions = len(base.session_samples(self.source))
            note = _joined(note, f"tolerance widened to the spread of {sessions} baseline sessions")
        return Row(label, self.metric, verdict, baseline, current, change, tol, cmp.band, cmp.p_value,
                   low - 1, high - 1, self.unit, note)


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _one_sided(label: str, metric: str, b, c, unit: str) -> Row | None:
    """Nothing to judge when neither run has ``metric``; new or missing when only one has it."""
    if b is None and c is None:
        return None
    return Row(label, metric, NEW if b is None else MISSING, b, c, unit=unit,
               note="only the " + ("current run" if b is None else "baseline") + " has it")


@dataclass(frozen=True)
class ScalarCheck:
    """A single number per run, lower is better (memory, cold start)."""

    metric: str
    category: str
    unit: str = ""

    def judge(self, label: str, base: CellRecord, cur: CellRecord, policy: GatePolicy) -> Row | None:
        b, c = base.extra.get(self.metric), cur.extra.get(self.metric)
        if b is None or c is None:
            return _one_sided(label, self.metric, b, c, self.unit)
        tol = policy.tolerance(label, self.category)
        change = (c / b - 1) if b else (0.0 if c == b else math.inf)
        return Row(label, self.metric, _direction_verdict(change, tol), b, c, change, tol, tol, unit=self.unit)


@dataclass(frozen=True)
class EqualCheck:
    """Must be equal in both runs; otherwise the model itself changed (reported, never a failure)."""

    metric: str
    unit: str = ""

    def judge(self, label: str, base: CellRecord, cur: CellRecord, policy: GatePolicy) -> Row | None:
        b, c = base.extra.get(self.metric), cur.extra.get(self.metric)
        if b is None or c is None:
            return _one_sided(label, self.metric, b, c, self.unit)
        same = b == c or (isinstance(b, float) and isinstance(c, float) and math.isclose(b, c, rel_tol=1e-9))
        change = (c / b - 1) if (not same and b and c is not None) else (0.0 if same else None)
        return Row(label, self.metric, UNCHANGED if same else MODEL_CHANGED, b, c, change, 0.0, unit=self.unit)


CHECKS = (
    SampledCheck("latency_median", "time", "median"),
    SampledCheck("latency_p90", "tail", "p90"),
    SampledCheck("throughput", "time", "median", unit="samples/s", invert=True),
    SampledCheck("rel_time", "relative", "median", source="rel_time", scale=1.0, unit="x eager"),
    SampledCheck("norm_time", "relative", "median", source="norm_time", scale=1.0, unit="x probe"),
    ScalarCheck("peak_mem_allocated_mb", "memory", "MiB"),
    ScalarCheck("peak_mem_reserved_mb", "memory", "MiB"),
    ScalarCheck("peak_rss_mb", "rss", "MiB"),
    ScalarCheck("cold_start_s", "cold_start", "s"),
    EqualCheck("gmacs", "GMAC"),
    EqualCheck("params"),
)

SAMPLED_CHECKS = tuple(c for c in CHECKS if isinstance(c, SampledCheck))
TIME_METRICS = tuple(c.metric for c in SAMPLED_CHECKS)


def judge_cell(base: CellRecord, cur: CellRecord, policy: GatePolicy, checks=CHECKS) -> list[Row]:
    """Every applicable check of one cell present in both runs, in table order."""
    rows = [row for check in checks if (row := check.judge(cur.label, base, cur, policy)) is not None]
    for row in rows:
        row.fullname = cur.fullname
    return rows
