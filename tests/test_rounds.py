"""Timed rounds with the machine probe: how many rounds (pytest-benchmark's own options, read from the
installed version's fixture), one probe before each round, outside the timed region."""

import pytest

from vbench.metrics.fallbacks import compile_cache_state
from vbench.timing import RoundsResult, planned_rounds, timed_rounds


def test_planned_rounds_follow_the_installed_pytest_benchmark_fixture(pytester, monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    pytester.makepyfile(test_fixture="""
from vbench.timing import planned_rounds

def test_reads_the_options(benchmark):
    assert planned_rounds(benchmark, 0.01) == 25      # 0.25 s / 0.01 s
    assert planned_rounds(benchmark, 1.0) == 7        # at least --benchmark-min-rounds
    assert planned_rounds(benchmark, 0.0) == 7
    benchmark(lambda: None)
""")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--benchmark-max-time=0.25",
                                          "--benchmark-min-rounds=7", "-p", "no:vbench")
    result.assert_outcomes(passed=1)


class _Fixture:
    """A stand-in that runs pedantic rounds the way pytest-benchmark does (setup, then the call)."""

    _max_time, _min_rounds = 0.05, 3

    def __init__(self):
        self.order = []

    def __call__(self, fn):
        self.order.append("calibrated")
        fn()

    def pedantic(self, fn, setup=None, rounds=1, iterations=1):
        for _ in range(rounds):
            setup()
            fn()


def test_the_probe_runs_before_every_round_and_gives_one_ratio_each():
    bench, order = _Fixture(), []
    result = timed_rounds(bench, lambda: order.append("round"), probe=lambda: order.append("probe"),
                          timer=iter(range(1000)).__next__, estimate_s=0.01)
    assert order == ["probe", "round"] * 5  # 0.05 s / 0.01 s
    assert len(result.probe_s) == 5 and all(p == 1 for p in result.probe_s)
    assert result.norm_time_samples([2.0, 4.0, 1.0, 1.0, 3.0]) == [2.0, 4.0, 1.0, 1.0, 3.0]


def test_without_probe_or_turns_pytest_benchmark_calibrates_its_own_rounds():
    bench = _Fixture()
    assert timed_rounds(bench, lambda: None).probe_s == []
    assert bench.order == ["calibrated"]
    assert RoundsResult().norm_time_samples([1.0]) == []


@pytest.mark.parametrize("before, after, state", [
    ((0, 0), (0, 0), None), ((0, 0), (0, 3), "cold"), ((2, 1), (5, 1), "warm"), ((0, 0), (1, 1), "mixed"),
])
def test_compile_cache_state(before, after, state):
    assert compile_cache_state(before, after) == state
