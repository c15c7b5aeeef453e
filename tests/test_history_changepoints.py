"""E-divisive means on series whose change points are known in advance."""

import numpy as np
import pytest

from vbench.history.changepoints import _best_split, e_divisive, energy_statistic


def noisy(levels, sigma=0.01, seed=0):
    """Log values: each level repeated as given by (value, count) pairs, plus normal noise."""
    rng = np.random.default_rng(seed)
    values = np.concatenate([np.full(count, value) for value, count in levels])
    return list(values + rng.normal(0, sigma, len(values)))


def test_the_vectorized_search_computes_the_energy_statistic_of_its_definition():
    x = noisy([(0.0, 6), (0.3, 5)], sigma=0.05, seed=3)
    dist = np.abs(np.subtract.outer(x, x))[None]
    q, tau = _best_split(dist, 0, len(x), 2)
    assert tau[0] == 6
    assert q[0] == pytest.approx(energy_statistic(x, 6))  # here the best split runs to the series' end
    # the search also tries inner ends, so it is never below the best split to the end
    assert q[0] >= max(energy_statistic(x, t) for t in range(2, len(x) - 1)) - 1e-12


@pytest.mark.parametrize("seed", range(3))
def test_a_step_up_is_found_at_its_index(seed):
    found = e_divisive(noisy([(0.0, 10), (0.2, 8)], seed=seed))
    assert [cp.index for cp in found] == [10]
    assert found[0].p_value <= 0.01


def test_a_step_down_and_back_up_gives_both_change_points():
    found = e_divisive(noisy([(0.0, 8), (-0.3, 8), (0.0, 8)]))
    assert [cp.index for cp in found] == [8, 16]


def test_no_change_gives_none_at_about_the_rate_alpha_promises():
    # The permutation test repeats the whole search (every split, every inner end) on shuffles, so the
    # chance that an unchanged series shows a change point is alpha. Measured: 4% of 200 series of 20
    # at alpha 0.05, 1.5% at 0.01.
    rng = np.random.default_rng(123)
    series = [rng.normal(0, 0.02, 20) for _ in range(100)]
    assert sum(bool(e_divisive(x, seed=i)) for i, x in enumerate(series)) <= 10
    assert sum(bool(e_divisive(x, alpha=0.01, seed=i)) for i, x in enumerate(series)) <= 3
    assert e_divisive(noisy([(0.0, 30)], sigma=0.02, seed=0)) == []


def test_a_slow_drift_is_cut_into_small_steps_that_add_up():
    # Documented behaviour (docs/history.md): a drift is a change of distribution, so it is cut into
    # segments; no single step carries the whole change, and each is smaller than the total.
    values = list(np.linspace(0.0, 0.2, 20) + np.random.default_rng(1).normal(0, 0.01, 20))
    found = e_divisive(values)
    assert len(found) >= 2
    cuts = [0, *[cp.index for cp in found], 20]
    means = [np.mean(values[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
    assert all(b > a for a, b in zip(means[:-1], means[1:]))  # every step goes the drift's way
    assert max(np.diff(means)) < means[-1] - means[0]


def test_too_short_a_series_has_no_change_point_and_the_search_is_reproducible():
    assert e_divisive([0.0, 1.0, 1.0]) == []
    x = noisy([(0.0, 7), (0.1, 7)], sigma=0.03, seed=7)
    assert e_divisive(x) == e_divisive(x)
    assert e_divisive(x, seed=1)[0].index == e_divisive(x)[0].index


def test_one_outlying_session_is_not_a_step():
    x = noisy([(0.0, 20)], seed=2)
    x[12] += 0.5  # one loaded session: min_size 2 keeps it from being a segment of its own
    assert all(cp.index not in (12, 13) or cp.p_value > 0.01 for cp in e_divisive(x, alpha=0.01))
