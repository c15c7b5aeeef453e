"""Statistics on raw per-round samples: Mann-Whitney U and a bootstrap interval on a ratio.

A time change counts only when it is beyond the tolerance *and* significant given both runs'
samples, so the effective threshold follows each cell's own noise: a steady cell can fail on a 6%
change, a jittery one needs more. Everything is deterministic (seeded bootstrap), so the same two
files always give the same verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["SampleComparison", "compare_samples", "mann_whitney_p", "bootstrap_ratio", "statistic", "session_spread"]

STATISTICS = {"median": 50.0, "p90": 90.0}


def statistic(samples: Sequence[float], name: str) -> float:
    """``median`` or ``p90`` of ``samples`` (numpy's linear-interpolated percentile)."""
    return float(np.percentile(np.asarray(samples, dtype=float), STATISTICS[name]))


def session_spread(sessions: Sequence[Sequence[float]], name: str) -> float | None:
    """How far whole sessions of the same cell disagree: max / min - 1 of ``name`` over the sessions.

    Rounds within one process share that process's offset (memory placement, thread placement,
    the machine's state), which no within-run test sees; the spread of several stored sessions does.
    None with fewer than two sessions.
    """
    values = [statistic(s, name) for s in sessions if len(s)]
    if len(values) < 2 or min(values) <= 0:
        return None
    return max(values) / min(values) - 1


def mann_whitney_p(baseline: Sequence[float], current: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy: exact for small samples without ties, else the normal
    approximation); NaN when either side has fewer than two samples."""
    if len(baseline) < 2 or len(current) < 2:
        return math.nan
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(current, baseline, alternative="two-sided").pvalue)


def bootstrap_ratio(
    baseline: Sequence[float],
    current: Sequence[float],
    stat: str = "median",
    *,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(current) / stat(baseline)``; returns ``(low, high)``."""
    rng = np.random.default_rng(seed)
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(current, dtype=float)
    q = STATISTICS[stat]
    # Chunked so a cell with thousands of rounds stays within a few MB.
    chunk = max(1, min(resamples, 2_000_000 // max(len(b), len(c), 1)))
    ratios = []
    for start in range(0, resamples, chunk):
        n = min(chunk, resamples - start)
        rb = _stat_rows(b[rng.integers(0, len(b), (n, len(b)))], q)
        rc = _stat_rows(c[rng.integers(0, len(c), (n, len(c)))], q)
        ratios.append(rc / rb)
    all_ratios = np.concatenate(ratios)
    alpha = (1 - level) / 2
    low, high = np.quantile(all_ratios, [alpha, 1 - alpha])
    return float(low), float(high)


def _stat_rows(rows: np.ndarray, q: float) -> np.ndarray:
    # np.median partitions instead of sorting: several times faster on thousands of rounds.
    return np.median(rows, axis=1) if q == 50.0 else np.percentile(rows, q, axis=1)


@dataclass(frozen=True)
class SampleComparison:
    """How ``current`` compares with ``baseline`` for one statistic.

    ``ratio`` is stat(current) / stat(baseline); ``low``/``high`` its bootstrap interval; ``p_value``
    the Mann-Whitney U p-value of the two sample sets.
    """

    stat: str
    baseline: float
    current: float
    ratio: float
    low: float
    high: float
    p_value: float

    def significant(self, alpha: float) -> bool:
        """Both tests agree: the distributions differ (p < alpha) and the interval excludes 1."""
        return (not math.isnan(self.p_value)) and self.p_value < alpha and (self.low > 1.0 or self.high < 1.0)

    @property
    def band(self) -> float:
        """Half-width of the interval, as a fraction of the ratio: the noise band of this comparison."""
        return (self.high - self.low) / 2 / self.ratio if self.ratio else math.nan


def compare_samples(baseline: Sequence[float], current: Sequence[float], stat: str = "median") -> SampleComparison:
    """Compare two raw sample sets on ``stat`` (median or p90)."""
    b, c = statistic(baseline, stat), statistic(current, stat)
    ratio = c / b if b else math.inf
    if len(baseline) >= 2 and len(current) >= 2:
        low, high = bootstrap_ratio(baseline, current, stat)
    else:
        low = high = ratio
    return SampleComparison(stat, b, c, ratio, low, high, mann_whitney_p(baseline, current))
