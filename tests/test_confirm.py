"""The suspect-confirm-decide loop (vbench.compare.confirm) through the real engine, with simulated
fresh sessions: a regression needs all planned sessions, unchanged suspects stop early, and the
whole design (10 baseline sessions, the loose screen, 8 fresh sessions) keeps unchanged runs green
while catching a 10% slowdown on cells whose sessions agree within 3%."""

import math

import numpy as np
import pytest

from vbench.compare import CellRecord, GatePolicy, Run, compare_sessions, suspect_cells
from vbench.compare.confirm import confirm_suspects

TIME = GatePolicy.build("time:5%,cold_start:off,rss:off")
K, PLANNED = 10, 8


def _samples(rng, sigma, factor=1.0):
    """One session's rounds: a per-session offset (the between-session spread) and small round noise."""
    return list(0.010 * factor * math.exp(rng.normal(0, sigma)) * (1 + 0.002 * rng.standard_normal(20)))


def _run(cells, source):
    run = Run(source, "key")
    run.cells = {f"t.py::t[{name}]": CellRecord(f"t.py::t[{name}]", f"t[{name}]", {"mode": "inference"}, samples)
                 for name, samples in cells.items()}
    return run


def _gate(rng, cells=62, sigma=0.03, effect=1.0, affected=16, planned=PLANNED):
    """One gated run as the pytest gate runs it: K baseline sessions, this session with ``effect`` on
    its first ``affected`` cells (one model family: a change in every cell is a whole-session shift,
    not a regression), suspects re-measured in fresh sessions drawn like every other session.
    Returns the final report and the calls to re-measure."""
    names = [f"c{i}" for i in range(cells)]
    factor = {n: effect if i < affected else 1.0 for i, n in enumerate(names)}
    base = [_run({n: _samples(rng, sigma) for n in names}, f"s{j}") for j in range(K)]
    current = _run({n: _samples(rng, sigma, factor[n]) for n in names}, "this run")
    calls = []

    def judge():
        return compare_sessions(base, current, TIME, confirm_planned=planned)

    def remeasure(fullnames, count):
        calls.append((list(fullnames), count))
        for name in fullnames:
            confirm = current.cells[name].extra.setdefault("gate_confirm", {"sessions": []})
            confirm["sessions"] += [{"samples_s": _samples(rng, sigma, factor[current.cells[name].label])}
                                    for _ in range(count)]
            confirm["planned"] = planned
        return count, None

    return confirm_suspects(judge(), judge, remeasure, planned), calls


def _row(report, name):
    return next(r for r in report.rows if r.metric == "latency_median" and r.cell == f"inference {name}")


def test_a_regression_is_called_only_on_all_planned_fresh_sessions():
    rng = np.random.default_rng(1)
    names = [f"c{i}" for i in range(20)]
    base = [_run({n: _samples(rng, 0.01) for n in names}, f"s{j}") for j in range(K)]
    current = _run({n: _samples(rng, 0.01, 1.3 if n == "c0" else 1.0) for n in names}, "this run")
    fresh = current.cells["t.py::t[c0]"].extra["gate_confirm"] = {
        "sessions": [{"samples_s": _samples(rng, 0.01, 1.3)} for _ in range(2)], "planned": 8}
    early = _row(compare_sessions(base, current, TIME), "c0")
    assert early.verdict == "inconclusive" and "2 of 8 fresh sessions" in early.note
    assert "--vb-confirm-sessions 16" in early.note
    fresh["sessions"] += [{"samples_s": _samples(rng, 0.01, 1.3)} for _ in range(6)]
    assert _row(compare_sessions(base, current, TIME), "c0").verdict == "regressed"
    # files written before "planned" was recorded are judged on the sessions they hold
    del fresh["planned"]
    fresh["sessions"] = fresh["sessions"][:2]
    assert _row(compare_sessions(base, current, TIME), "c0").verdict == "regressed"


def test_unchanged_suspects_stop_after_one_step_and_a_regression_runs_all_sessions():
    rng = np.random.default_rng(2)
    outcome, calls = _gate(rng, sigma=0.03)
    assert calls and outcome.sessions == 2 and outcome.report.exit_status == 0  # screened, then cleared
    rng = np.random.default_rng(3)
    outcome, calls = _gate(rng, sigma=0.03, effect=1.3)
    assert outcome.sessions == PLANNED and [c for _, c in calls] == [2, 2, 2, 2]
    assert {r.cell for r in outcome.report.rows if r.verdict == "regressed"} == {f"inference c{i}" for i in range(16)}


def test_ctrl_c_while_confirming_keeps_the_report_and_says_so():
    rng = np.random.default_rng(4)
    names = [f"c{i}" for i in range(20)]
    base = [_run({n: _samples(rng, 0.01) for n in names}, f"s{j}") for j in range(K)]
    current = _run({n: _samples(rng, 0.01, 1.3 if n == "c0" else 1.0) for n in names}, "this run")
    report = compare_sessions(base, current, TIME, confirm_planned=PLANNED)
    assert suspect_cells(report) == ["t.py::t[c0]"]

    def interrupted(names, count):
        raise KeyboardInterrupt

    outcome = confirm_suspects(report, lambda: report, interrupted, PLANNED)
    assert outcome.interrupted and outcome.report is report and "interrupted while re-measuring" in report.notes[-1]


@pytest.mark.parametrize("sigma", [0.01, 0.03])
def test_unchanged_runs_stay_green_and_a_ten_percent_slowdown_is_caught(sigma):
    # 40 unchanged runs of 62 cells and 10 runs with 16 cells 10% slower, through the engine and the
    # loop with the defaults. Expected from the normal model: the screen passes a 10% change on a
    # cell of 3% spread about 95 times in 100 and the 8 fresh sessions confirm it about 99 times in
    # 100; a run is red by chance at most 1% of the time (binomial slack for 40 runs: at most 2).
    rng = np.random.default_rng(int(sigma * 1000))
    red = sum(_gate(rng, sigma=sigma)[0].report.exit_status for _ in range(40))
    assert red <= 2
    slower = {f"inference c{i}" for i in range(16)}
    rows = [r for _ in range(10) for r in _gate(rng, sigma=sigma, effect=1.10)[0].report.rows
            if r.metric == "latency_median"]
    caught = [r.verdict == "regressed" for r in rows if r.cell in slower]
    assert sum(caught) / len(caught) >= (0.99 if sigma == 0.01 else 0.85)
    assert not [r for r in rows if r.cell not in slower and r.verdict == "regressed"]
