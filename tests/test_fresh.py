"""Confirmation in a fresh process: the child's arguments, and the verdicts it can overturn."""

import numpy as np
import pytest

from vbench.compare import CellRecord, GatePolicy, Run, compare_sessions, suspect_cells
from vbench.pytest_plugin.fresh import child_args


@pytest.mark.parametrize("args, expected", [
    (["bench", "--benchmark-autosave", "--benchmark-compare", "-q"], ["bench", "-q"]),
    (["--benchmark-compare", "base.json", "bench"], ["bench"]),  # argparse took base.json as its value
    (["--benchmark-compare=0001", "bench", "--benchmark-json", "out.json"], ["bench"]),
    (["bench", "-n", "2", "--vb-verdict-md=v.md", "--vb-verdict-json", "v.json"], ["bench"]),
    (["bench", "-nauto", "--benchmark-save=x", "-p", "gate_study", "--vb-models", "resnet18"],
     ["bench", "-p", "gate_study", "--vb-models", "resnet18"]),
    (["bench", "--benchmark-compare", "--vb-opts", "eager"], ["bench", "--vb-opts", "eager"]),
    (["bench", "--vb-confirm-sessions", "4", "--vb-fail-on-inconclusive"], ["bench"]),
    (["bench", "--junitxml", "r.xml", "--vb-interleave=A@127.0.0.1:5", "--vb-interleave-rounds", "9",
      "--benchmark-storage", "file://s", "--basetemp=/tmp/x"], ["bench"]),
])
def test_child_keeps_everything_but_saving_comparing_and_xdist(args, expected):
    assert child_args(args) == expected


def _cell(scale, seed, fullname="t.py::test[c]", fresh=()):
    rng = np.random.default_rng(seed)
    cell = CellRecord(fullname, fullname.split("::")[-1], {"batch_size": 8, "mode": "inference"},
                      list(0.01 * scale * (1 + 0.005 * rng.standard_normal(40))))
    if fresh:
        cell.extra["gate_confirm"] = {"sessions": [
            {"samples_s": list(0.01 * f * (1 + 0.005 * rng.standard_normal(40)))} for f in fresh]}
    return cell


def _run(source, *cells):
    return Run(source, "key", {c.fullname: c for c in cells})


def _baselines(*fullnames, sessions=5):
    rng = np.random.default_rng(99)
    return [_run(f"base{i}", *(_cell(float(np.exp(rng.normal(0, 0.01))), 10 * i + j, name)
                               for j, name in enumerate(fullnames))) for i in range(sessions)]


def test_a_regression_the_fresh_sessions_do_not_repeat_is_overturned():
    base = _baselines("t.py::test[c]")
    report = compare_sessions(base, _run("cur", _cell(1.2, 1, fresh=(1.0, 1.0))), GatePolicy.build("time:5%"))
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 0
    assert rows["latency_median"].verdict == "unchanged" and rows["latency_median"].confirm == 2
    assert "this session +2" in rows["latency_median"].note and "2 fresh session(s) +0." in rows["latency_median"].note


def test_a_regression_the_fresh_sessions_repeat_stands():
    base = _baselines("t.py::test[c]")
    report = compare_sessions(base, _run("cur", _cell(1.2, 1, fresh=(1.2, 1.2))), GatePolicy.build("time:5%"))
    rows = {r.metric: r for r in report.rows}
    assert report.exit_status == 1 and rows["latency_median"].verdict == "regressed"


def test_cells_sharing_a_label_are_told_apart_by_fullname():
    # test_inference[c] and test_train[c] share the label "c": only the regressed one is re-measured.
    names = ("t.py::test_inference[c]", "t.py::test_train[c]")
    base = _baselines(*names)
    cur = _run("cur", _cell(1.0, 2, names[0]), _cell(1.2, 3, names[1]))
    report = compare_sessions(base, cur, GatePolicy.build("time:5%"))
    assert suspect_cells(report) == ["t.py::test_train[c]"]
    assert {r.fullname for r in report.regressions} == {"t.py::test_train[c]"}
