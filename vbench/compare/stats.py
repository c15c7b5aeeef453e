"""The statistics of the gate: one number per session, a between-session spread pooled over cells,
and a prediction bound that a new session's number must leave before it counts.

Why sessions and not rounds: the rounds of one process share that process's offset (where its
memory landed, which core it ran on, what the machine was doing that minute) and are correlated in
time, so a round-level test calls two processes of the same code "significantly different" most of
the time. Here each session (one pytest process) contributes one statistic per cell and metric (the
median of its rounds, their p90, the median ``norm_time`` ratio, its peak RSS, its cold start),
compared on the log scale.

The spread: with K = 3-5 baseline sessions a cell's own standard deviation rests on 2-4 degrees of
freedom, far too few for a bound at the 1e-4 level a whole run needs. Cells of one metric share most
of their noise (same machine, same process), so the spread is pooled over cells the way limma
moderates gene-wise variances: a robust pooled value (median of the cells' variances, scaled to be
unbiased under normality) with ``PRIOR_DF`` degrees of freedom (estimated from how much the cells' variances differ), combined with the cell's own
variance. A cell noisier than the rest widens its own bound; a quiet cell keeps the pooled one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "STATISTICS", "PRIOR_DF", "SIGMA_FLOOR", "Spread", "Bound", "statistic", "log_values", "pooled_spread",
    "moderated", "se_factor", "bound", "one_sided_p",
]

STATISTICS = {"median": 50.0, "p90": 90.0}
# Weight of the pooled spread, in degrees of freedom, against a cell's own (K - 1), when too few
# cells exist to estimate it; estimated from the cells otherwise (see pooled_spread).
PRIOR_DF = 4.0
MIN_CELLS_FOR_DF = 5
MAX_PRIOR_DF = 200.0
# Degrees of freedom of the t quantile at most: whole sessions have heavier tails than a normal
# distribution (a minute of machine noise lands on one session), and the quantiles that a run-level
# level of 1e-4 per check reaches are deep in the tail. t with 30 df is 20% wider than the normal
# there (tests/test_compare.py simulates unchanged runs with t5-distributed session offsets).
MAX_DF = 30.0
# No bound narrower than this (log scale): a metric that repeated exactly in K sessions (a
# deterministic peak memory) still moves by rounding and allocator granularity.
SIGMA_FLOOR = 0.002


def statistic(samples: Sequence[float], name: str) -> float:
    """``median`` or ``p90`` of ``samples`` (numpy's linear-interpolated percentile)."""
    return float(np.percentile(np.asarray(samples, dtype=float), STATISTICS[name]))


def log_values(values: Iterable[float | None]) -> list[float]:
    """Natural logs of the positive, finite values (others are left out)."""
    return [math.log(v) for v in values if v is not None and math.isfinite(v) and v > 0]


@dataclass(frozen=True)
class Spread:
    """The pooled between-session spread of one metric on the log scale: ``sigma`` (about the
    relative standard deviation of one session's value), from ``cells`` cells with ``df`` degrees
    of freedom in all; ``prior`` when no cell had two sessions and an assumed value stands in."""

    sigma: float
    df: float
    cells: int
    prior: bool = False


def pooled_spread(groups: Iterable[Sequence[float]], prior_sigma: float, prior_df: float | None = None) -> Spread:
    """Pool the variances of ``groups`` (per cell: log values of its sessions, or paired log ratios).

    ``sigma``: the median over cells of each cell's variance divided by the median of a chi-square
    with its degrees of freedom over those degrees of freedom (so a few cells hit by a noise episode
    do not inflate it). ``df``: how much one cell may lean on it, estimated as limma's ``eBayes``
    does (Smyth 2004, method of moments on the log variances): cells that all share one spread give a
    large value (capped at :data:`MAX_PRIOR_DF`), cells whose spreads differ a small one, so a cell's
    own variance weighs more. With fewer than :data:`MIN_CELLS_FOR_DF` cells, or given ``prior_df``,
    that fixed weight instead (``PRIOR_DF`` by default). Without any group of two, ``prior_sigma`` (a
    deliberately wide value per metric) with ``PRIOR_DF``.
    """
    from scipy.stats import chi2

    variances, dfs = [], []
    for values in groups:
        if len(values) >= 2:
            variances.append(float(np.var(values, ddof=1)))
            dfs.append(len(values) - 1)
    if not variances:
        return Spread(max(prior_sigma, SIGMA_FLOOR), PRIOR_DF, 0, prior=True)
    scaled = [v / (chi2.ppf(0.5, d) / d) for v, d in zip(variances, dfs)]
    sigma = max(math.sqrt(float(np.median(scaled))), SIGMA_FLOOR)
    return Spread(sigma, _prior_df(variances, dfs, prior_df), len(variances))


def _prior_df(variances: list[float], dfs: list[int], fixed: float | None = None) -> float:
    """limma's moment estimate of the prior degrees of freedom of cell variances; ``fixed`` (or
    ``PRIOR_DF`` with too few cells) instead, never more than the cells' own degrees of freedom."""
    from scipy.optimize import brentq
    from scipy.special import digamma, polygamma

    if fixed is not None or len(variances) < MIN_CELLS_FOR_DF:
        return min(PRIOR_DF if fixed is None else fixed, float(sum(dfs)))
    floor = SIGMA_FLOOR ** 2
    d = np.asarray(dfs, dtype=float)
    e = np.log(np.maximum(variances, floor)) - digamma(d / 2) + np.log(d / 2)
    excess = float(np.var(e, ddof=1) - np.mean(polygamma(1, d / 2)))
    if excess <= polygamma(1, MAX_PRIOR_DF / 2):
        return MAX_PRIOR_DF
    # trigamma is decreasing: solve trigamma(d0 / 2) = excess for d0
    return float(2 * brentq(lambda x: polygamma(1, x) - excess, 1e-6, MAX_PRIOR_DF / 2))


def moderated(values: Sequence[float], spread: Spread) -> tuple[float, float]:
    """The spread of one cell ``(sigma, df)``: its own variance (``len(values) - 1`` degrees of
    freedom) and the pooled one (``spread.df``) weighted by their degrees of freedom."""
    prior_df = spread.df
    own_df = max(len(values) - 1, 0)
    if own_df == 0:
        return spread.sigma, prior_df
    own = float(np.var(values, ddof=1))
    sigma2 = (prior_df * spread.sigma ** 2 + own_df * own) / (prior_df + own_df)
    return max(math.sqrt(sigma2), SIGMA_FLOOR), prior_df + own_df


@dataclass(frozen=True)
class Bound:
    """How far a change (log scale) must go to count: ``strict`` at the per-check level of the
    run-level error control, ``lenient`` at one check's 5% (a suspect, or an inconclusive verdict)."""

    strict: float
    lenient: float
    se: float
    df: float


def se_factor(n_current: int, n_baseline: int | None = None) -> float:
    """Standard error of a change over one session's spread: the mean of ``n_current`` new sessions
    against the mean of ``n_baseline`` baseline sessions, or (``n_baseline`` None) the mean of
    ``n_current`` paired differences."""
    if n_baseline is None:
        return math.sqrt(1.0 / max(n_current, 1))
    return math.sqrt(1.0 / max(n_current, 1) + 1.0 / max(n_baseline, 1))


def bound(sigma: float, df: float, factor: float, level: float, lenient_level: float) -> Bound:
    """One-sided prediction bound (Student t with ``df``) on a change whose standard error is
    ``sigma * factor`` (see :func:`se_factor`), at ``level`` and ``lenient_level``."""
    from scipy.stats import t

    se = sigma * factor
    df = min(max(df, 1.0), MAX_DF)
    return Bound(float(t.ppf(1 - level, df) * se), float(t.ppf(1 - lenient_level, df) * se), se, df)


def one_sided_p(change: float, se: float, df: float) -> float:
    """P(a change at least this large in the worse direction | no change) under the t model."""
    from scipy.stats import t

    if se <= 0:
        return 0.0 if change > 0 else 1.0
    return float(t.sf(abs(change) / se, max(df, 1.0)))
