"""Confirmation in a fresh process: the child's arguments, and the verdicts it can overturn."""

import numpy as np
import pytest

from vbench.compare import CellRecord, GatePolicy, Run, compare_runs
from vbench.compare.report import reconfirm, regressed_sampled_cells
from vbench.fresh import child_args


@pytest.mark.parametrize("args, expected", [
    (["bench", "--benchmark-autosave", "--benchmark-compare", "-q"], ["bench", "-q"]),
    (["--benchmark-compare", "base.json", "bench"], ["bench"]),  # argparse took base.json as its value
    (["--benchmark-compare=0001", "bench", "--benchmark-json", "out.json"], ["bench"]),
    (["bench", "-n", "2", "--vb-verdict-md=v.md", "--vb-verdict-json", "v.json"], ["bench"]),
    (["bench", "-nauto", "--benchmark-save=x", "-p", "gate_study", "--vb-models", "resnet18"],
     ["bench", "-p", "gate_study", "--vb-models", "resnet18"]),
    (["bench", "--benchmark-compare", "--vb-opts", "eager"], ["bench", "--vb-opts", "eager"]),
])
def test_child_keeps_everything_but_saving_comparing_and_xdist(args, expected):
    assert child_args(args) == expected


def _run(scale, source, seed):
    rng = np.random.default_rng(seed)
    cell = CellRecord("t.py::test[c]", "test[c]", {"batch_size": 8},
                      list(0.01 * scale * (1 + 0.005 * rng.standard_normal(40))))
    return Run(source, "key", {cell.fullname: cell})


def test_a_regression_the_fresh_process_does_not_repeat_is_overturned():
    base, slow = _run(1.0, "base", 0), _run(1.1, "cur", 1)
    report = compare_runs(base, slow, GatePolicy.build("tail:5%"))
    assert regressed_sampled_cells(report) == ["c"]
    reconfirm(report, base, _run(1.0, "fresh", 2))
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 0
    assert rows["latency_median"].verdict == "unchanged"
    assert "not confirmed in a fresh process: +0." in rows["latency_median"].note
    assert rows["latency_median"].change == pytest.approx(0.10, abs=0.01)  # what this run measured


def test_a_regression_the_fresh_process_repeats_stands():
    base, slow = _run(1.0, "base", 0), _run(1.1, "cur", 1)
    report = compare_runs(base, slow, GatePolicy())
    reconfirm(report, base, _run(1.1, "fresh", 3))
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 1
    assert rows["latency_median"].verdict == "regressed" and "again in a fresh process: +9.9%" in rows["latency_median"].note


def test_a_cell_the_fresh_process_lacks_keeps_its_verdict():
    base, slow = _run(1.0, "base", 0), _run(1.1, "cur", 1)
    report = compare_runs(base, slow, GatePolicy())
    reconfirm(report, base, Run("fresh", "key", {}))
    assert report.exit_status == 1
    assert "no fresh-process figure" in {r.metric: r for r in report.rows}["latency_median"].note
