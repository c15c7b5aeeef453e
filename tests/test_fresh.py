"""Confirmation in a fresh process: the child's arguments, and the verdicts it can overturn."""

import numpy as np
import pytest

from vbench.compare import CellRecord, GatePolicy, Run, compare_runs
from vbench.compare.report import regressed_sampled_cells
from vbench.fresh import child_args


@pytest.mark.parametrize("args, expected", [
    (["bench", "--benchmark-autosave", "--benchmark-compare", "-q"], ["bench", "-q"]),
    (["--benchmark-compare", "base.json", "bench"], ["bench"]),  # argparse took base.json as its value
    (["--benchmark-compare=0001", "bench", "--benchmark-json", "out.json"], ["bench"]),
    (["bench", "-n", "2", "--vb-verdict-md=v.md", "--vb-verdict-json", "v.json"], ["bench"]),
    (["bench", "-nauto", "--benchmark-save=x", "-p", "gate_study", "--vb-models", "resnet18"],
     ["bench", "-p", "gate_study", "--vb-models", "resnet18"]),
    (["bench", "--benchmark-compare", "--vb-opts", "eager"], ["bench", "--vb-opts", "eager"]),
    (["bench", "--junitxml", "r.xml", "--vb-interleave=A@127.0.0.1:5", "--vb-interleave-rounds", "9",
      "--benchmark-storage", "file://s", "--basetemp=/tmp/x"], ["bench"]),
])
def test_child_keeps_everything_but_saving_comparing_and_xdist(args, expected):
    assert child_args(args) == expected


def _cell(scale, seed, fullname="t.py::test[c]", fresh=None):
    rng = np.random.default_rng(seed)
    cell = CellRecord(fullname, fullname.split("::")[-1], {"batch_size": 8},
                      list(0.01 * scale * (1 + 0.005 * rng.standard_normal(40))))
    if fresh is not None:
        cell.extra["gate_confirm"] = {"fresh": {"samples_s": list(0.01 * fresh * (1 + 0.005 * rng.standard_normal(40)))}}
    return cell


def _run(source, *cells):
    return Run(source, "key", {c.fullname: c for c in cells})


def test_a_regression_the_fresh_process_does_not_repeat_is_overturned():
    base = _run("base", _cell(1.0, 0))
    report = compare_runs(base, _run("cur", _cell(1.1, 1, fresh=1.0)), GatePolicy.build("tail:5%"))
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 0
    assert rows["latency_median"].verdict == "unchanged"
    assert "not confirmed in a fresh process: +0." in rows["latency_median"].note
    assert rows["latency_median"].change == pytest.approx(0.10, abs=0.01)  # what this run measured


def test_a_regression_the_fresh_process_repeats_stands():
    base = _run("base", _cell(1.0, 0))
    report = compare_runs(base, _run("cur", _cell(1.1, 1, fresh=1.1)), GatePolicy())
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 1
    assert rows["latency_median"].verdict == "regressed"
    assert "again in a fresh process: +" in rows["latency_median"].note


def test_cells_sharing_a_label_are_told_apart_by_fullname():
    # test_inference[c] and test_train[c] share the label "c": only the regressed one is re-measured.
    base = _run("base", _cell(1.0, 0, "t.py::test_inference[c]"), _cell(1.0, 1, "t.py::test_train[c]"))
    cur = _run("cur", _cell(1.0, 2, "t.py::test_inference[c]"), _cell(1.2, 3, "t.py::test_train[c]"))
    report = compare_runs(base, cur, GatePolicy())
    assert regressed_sampled_cells(report) == ["t.py::test_train[c]"]
    assert {r.fullname for r in report.regressions} == {"t.py::test_train[c]"}
