"""Per-cell verdicts: what is judged (the metric table), and the rule that turns a change into a verdict.

Every metric is judged the same way: one value per session (the statistic of its rounds, or its
single number), a change on the log scale against the mean of the baseline sessions, and a
prediction bound from their pooled spread (:mod:`vbench.compare.stats`). A change is a regression
only when it is beyond the category's tolerance **and** beyond the strict bound (the run-level
error control's per-check level); beyond the tolerance and a lenient bound (one check's 5%) but not
the strict one, the verdict is ``inconclusive``: more sessions would decide. Equality metrics
(gmacs, params) are never regressions: a difference means the model itself changed.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass
from typing import Any

from vbench.compare.runs import CellRecord
from vbench.compare.stats import Bound, statistic

__all__ = [
    "REGRESSED", "IMPROVED", "UNCHANGED", "INCONCLUSIVE", "NOT_GATED", "NEW", "MISSING", "MODEL_CHANGED",
    "VERDICTS", "Row", "Metric", "gate_metrics", "decide",
]

REGRESSED, IMPROVED, UNCHANGED, INCONCLUSIVE = "regressed", "improved", "unchanged", "inconclusive"
NOT_GATED, NEW, MISSING, MODEL_CHANGED = "not gated", "new", "missing", "model changed"
VERDICTS = (REGRESSED, INCONCLUSIVE, IMPROVED, UNCHANGED, NOT_GATED, NEW, MISSING, MODEL_CHANGED)


@dataclass
class Row:
    """One line of the verdict table.

    ``change`` is current / baseline - 1 (of the confirmation sessions' mean when there were some);
    ``bound`` the change the strict bound allows (a fraction); ``can_catch`` the smallest change this
    run could call a regression for this cell (tolerance and noise together); ``p_value`` one-sided
    under the t model; ``sessions`` baseline sessions used; ``confirm`` fresh sessions judged.
    """

    cell: str
    metric: str
    verdict: str
    baseline: float | None = None
    current: float | None = None
    change: float | None = None
    tolerance: float | None = None
    bound: float | None = None
    can_catch: float | None = None
    p_value: float | None = None
    sessions: int = 0
    confirm: int = 0
    unit: str = ""
    note: str = ""
    fullname: str = ""  # the cell's pytest-benchmark fullname (labels repeat across modes)
    suspect: bool = False  # worth re-measuring in fresh sessions (sampled metrics judged on one session)

    def as_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Metric:
    """One judged metric: its name in the table, tolerance category, display unit and scale, where a
    session's value comes from (``source``: raw samples of ``time``, ``norm_time`` or ``rel_time``
    summarised by ``stat``; else the single number ``extra_info[name]``), and the spread assumed for
    it while fewer than two baseline sessions exist (``prior_sigma``)."""

    name: str
    category: str | None
    unit: str = ""
    source: str | None = None
    stat: str = "median"
    scale: float = 1.0
    prior_sigma: float = 0.10
    equal: bool = False

    @property
    def sampled(self) -> bool:
        return self.source is not None

    def value(self, cell: CellRecord) -> float | None:
        """This session's value for ``cell`` (None when it has none)."""
        if self.sampled:
            samples = cell.samples_of(self.source)
            return statistic(samples, self.stat) if samples else None
        value = cell.extra.get(self.name)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    def confirm_values(self, cell: CellRecord) -> list[float]:
        """The values of the gate's fresh confirmation sessions of ``cell`` (sampled metrics only)."""
        if not self.sampled:
            return []
        return [statistic(s, self.stat) for s in cell.confirm_sessions(self.source)]

    @property
    def pair_source(self) -> str | None:
        """The samples A/B pairs compare for this metric. ``norm_time`` by the rounds' own time: the
        machine probe is there to cancel the machine's drift between sessions, which the two sides of
        a pair share, so it would only add its own noise (in the study of 2026-12-01 a pair's
        norm_time ratio spread up to 15% where its time ratio spread 1%)."""
        return "time" if self.source == "norm_time" else self.source

    def pair_value(self, cell: CellRecord) -> float | None:
        """One side's value in a pair of sessions taken in turns (``vbench ab``): of its
        :attr:`pair_source` samples; the single number itself for other metrics."""
        if not self.sampled:
            return self.value(cell)
        samples = cell.samples_of(self.pair_source)
        return statistic(samples, self.stat) if samples else None

    def pair_log_ratios(self, cell: CellRecord) -> list[float]:
        """Per A/B pair of the gate (sampled metrics only): log of this revision's value over the
        baseline revision's, both timed in the same minutes, round for round in turns."""
        if not self.sampled:
            return []
        out = []
        for base, current in cell.confirm_pairs(self.pair_source):
            b, c = statistic(base, self.stat), statistic(current, self.stat)
            if b > 0 and c > 0 and math.isfinite(b) and math.isfinite(c):
                out.append(math.log(c / b))
        return out


def gate_metrics() -> tuple[Metric, ...]:
    """The judged metrics, in row order: every metric of the registry (:mod:`vbench.metrics.registry`)
    with a gate rule, vbench's own first, then those registered by users."""
    from vbench.metrics.registry import list_metrics

    return _gate_table(tuple(m for m in list_metrics() if m.gate is not None))


@functools.lru_cache(maxsize=8)
def _gate_table(specs) -> tuple[Metric, ...]:
    # Cached per registry state: the engine compares metrics by identity within one judgement.
    return tuple(Metric(s.name, s.gate.category, s.unit if s.gate.unit is None else s.gate.unit, s.gate.source,
                        s.gate.stat, s.gate.scale, s.gate.prior_sigma, s.gate.equal) for s in specs)


def decide(change: float, tolerance: float, bound: Bound) -> str:
    """The verdict on a log-scale ``change`` (positive: worse) against ``tolerance`` (a fraction)."""
    beyond_tolerance = math.log1p(tolerance)
    if change > beyond_tolerance and change > bound.strict:
        return REGRESSED
    if -change > beyond_tolerance and -change > bound.strict:
        return IMPROVED
    if change > beyond_tolerance and change > bound.lenient:
        return INCONCLUSIVE
    return UNCHANGED
