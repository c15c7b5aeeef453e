"""Change points in one series: E-divisive means with a permutation test (Matteson & James 2014).

The method Apache Otava (formerly Hunter) and MongoDB's ``signal-processing-algorithms`` use on
performance histories. For a segment of the series and a split ``tau`` into ``X`` (before) and ``Y``
(after), the energy statistic

    Q(tau) = m n / (m + n) * (2 / (m n) sum |X_i - Y_j| - mean |X_i - X_k| - mean |Y_j - Y_k|)

(the ``mean`` over pairs ``i != k``; distances to the power 1) is large when the two parts come from
different distributions, whatever the shape of the noise: no normality is assumed. Divisive: the
split with the largest Q over all current segments (``Y`` may end before the segment does, as in
the paper, so a change that comes back is found too) is tested; it counts when a permutation test
says so (the values shuffled within each segment, ``permutations`` times with a fixed seed, p = the
share of shuffles whose best Q is at least as large), and then each side is searched again, until a
split is not significant.

The package itself was not used: its releases pin ``numpy < 2`` and Python 3.11 only. This is the
same algorithm in numpy, vectorized over shuffles with 2-D prefix sums of the distance matrix.

Parameters and why:

- ``alpha`` (default 0.05, the ``ecp`` R package's default): the permutation p-value a split needs;
- ``min_size`` (default 2): the fewest sessions on either side of a change; one session can never
  be a segment of its own, so a single loaded session is not a step;
- ``permutations`` (default 499, seed 0): p-values are reproducible and resolve down to 0.002.

Callers pass log values, so a step of +20% and one of -17% weigh alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["ALPHA", "MIN_SIZE", "PERMUTATIONS", "SEED", "ChangePoint", "energy_statistic", "e_divisive"]

ALPHA = 0.05
MIN_SIZE = 2
PERMUTATIONS = 499
SEED = 0
_CHUNK = 64  # shuffles per vectorized batch: bounds memory for long series


@dataclass(frozen=True)
class ChangePoint:
    """A change before index ``index`` of the series (the first value of the new segment), found
    with permutation p-value ``p_value`` and energy statistic ``statistic``."""

    index: int
    p_value: float
    statistic: float


def _block(c: np.ndarray, r0, r1, c0, c1) -> np.ndarray:
    """Sums of D[..., r0:r1, c0:c1] from the prefix-sum array ``c`` (leading axes broadcast)."""
    r0, r1, c0, c1 = np.broadcast_arrays(r0, r1, c0, c1)  # scalars and split positions alike
    return c[..., r1, c1] - c[..., r0, c1] - c[..., r1, c0] + c[..., r0, c0]


def _best_split(dist: np.ndarray, start: int, end: int, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest Q over splits ``tau`` of the segment ``[start, end)``, with ``Y`` running from
    ``tau`` to any inner end ``kappa`` (so a change that comes back, up then down, is found too), for
    each of the stacked distance matrices ``dist`` (shape ``(batch, n, n)``); Q is -inf and the
    split -1 without a valid split."""
    batch = dist.shape[0]
    taus = np.arange(start + min_size, end - min_size + 1)
    if taus.size == 0:
        return np.full(batch, -np.inf), np.full(batch, -1)
    c = np.zeros((batch, dist.shape[1] + 1, dist.shape[2] + 1))
    c[:, 1:, 1:] = dist.cumsum(axis=1).cumsum(axis=2)
    tau, kappa = np.meshgrid(taus, np.arange(start + 2 * min_size, end + 1), indexing="ij")
    valid = kappa - tau >= min_size
    kappa = np.where(valid, kappa, end)  # any index that exists; masked out below
    m = (tau - start).astype(float)
    n = np.maximum(kappa - tau, 2).astype(float)
    between = _block(c, start, tau, tau, kappa) / (m * n)
    within_x = _block(c, start, tau, start, tau) / (m * (m - 1))
    within_y = _block(c, tau, kappa, tau, kappa) / (n * (n - 1))
    q = np.where(valid, m * n / (m + n) * (2 * between - within_x - within_y), -np.inf).reshape(batch, -1)
    best = q.argmax(axis=1)
    return q[np.arange(batch), best], tau.reshape(-1)[best]


def energy_statistic(values: Sequence[float], tau: int) -> float:
    """Q of splitting ``values`` before index ``tau`` (both parts need at least two values); the
    plain definition, which the tests hold the vectorized search to."""
    x, y = np.asarray(values[:tau], dtype=float), np.asarray(values[tau:], dtype=float)
    m, n = len(x), len(y)
    between = np.abs(x[:, None] - y[None, :]).mean()
    within_x = np.abs(x[:, None] - x[None, :]).sum() / (m * (m - 1))
    within_y = np.abs(y[:, None] - y[None, :]).sum() / (n * (n - 1))
    return float(m * n / (m + n) * (2 * between - within_x - within_y))


def _best_over_segments(dist: np.ndarray, bounds: list[int], min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The best Q over every segment between consecutive ``bounds`` and its split, per matrix."""
    best_q = np.full(dist.shape[0], -np.inf)
    best_tau = np.full(dist.shape[0], -1)
    for start, end in zip(bounds[:-1], bounds[1:]):
        q, tau = _best_split(dist, start, end, min_size)
        better = q > best_q
        best_q, best_tau = np.where(better, q, best_q), np.where(better, tau, best_tau)
    return best_q, best_tau


def _shuffles(rng: np.random.Generator, bounds: list[int], count: int, n: int) -> np.ndarray:
    """``count`` index orders that shuffle the series within each segment."""
    orders = np.tile(np.arange(n), (count, 1))
    for start, end in zip(bounds[:-1], bounds[1:]):
        orders[:, start:end] = rng.permuted(orders[:, start:end], axis=1)
    return orders


def e_divisive(values: Sequence[float], *, alpha: float = ALPHA, min_size: int = MIN_SIZE,
               permutations: int = PERMUTATIONS, seed: int = SEED) -> list[ChangePoint]:
    """The significant change points of ``values`` (in order of position), each with its p-value.

    Fewer than ``2 * min_size`` values give none. Deterministic for a given ``seed``.
    """
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n < 2 * min_size or min_size < 2:
        return []
    dist = np.abs(x[:, None] - x[None, :])
    rng = np.random.default_rng(seed)
    bounds = [0, n]
    found: list[ChangePoint] = []
    while True:
        q_obs, tau = _best_over_segments(dist[None], bounds, min_size)
        if not np.isfinite(q_obs[0]) or q_obs[0] <= 0:
            break
        at_least = 0
        for done in range(0, permutations, _CHUNK):
            count = min(_CHUNK, permutations - done)
            orders = _shuffles(rng, bounds, count, n)
            shuffled = dist[orders[:, :, None], orders[:, None, :]]
            q_perm, _ = _best_over_segments(shuffled, bounds, min_size)
            at_least += int(np.sum(q_perm >= q_obs[0] * (1 - 1e-12)))
        p_value = (at_least + 1) / (permutations + 1)
        if p_value > alpha:
            break
        found.append(ChangePoint(int(tau[0]), p_value, float(q_obs[0])))
        bounds = sorted(bounds + [int(tau[0])])
    return sorted(found, key=lambda cp: cp.index)
