"""The report and the gate give one answer: runs built where the report's own rules used to disagree.

Before, the report recomputed correctness with its own tolerance table (bf16: max_rel_err 0.1 and a
top-1 floor of 0.75) and called baseline vs current with its own rule (the two runs' interquartile
ranges of round times, then a ratio threshold). Now it reads the guard's ``correctness`` field and
takes the gate's verdicts.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from report_json import cell, guard, write_run

from vbench.cli import main
from vbench.compare import compare_sessions, load_run
from vbench.report import build_report, load_runs
from vbench.report.verdicts import report_policy


def test_a_cell_the_guard_failed_is_incorrect_in_the_report(tmp_path):
    # 0.08 is beyond the guard's bf16 tolerance (5e-2); the old report's table allowed 0.1.
    failed = guard("bf16", 0.08)
    # 0.03 with half the arg-max classes flipped: within the guard's bf16 tolerance, which has no top-1
    # floor (near-tie logits of random-init models); the old report demanded 0.75.
    passed = guard("bf16", 0.03, top1=0.5)
    assert failed.startswith("outside the bf16 tolerance") and passed == "ok"
    run = write_run(tmp_path / "run.json", [
        cell("m", "eager", 1, 10.0),
        cell("m", "bf16", 1, 4.0, precision="bf16", err=0.08, correctness=failed),
        cell("m", "amp_bf16", 1, 6.0, precision="bf16", err=0.03, top1=0.5, correctness=passed),
    ])
    result = build_report(load_runs([run]))
    correct = result.current.set_index("optimization")["correct"]
    assert correct.to_dict() == {"eager": True, "bf16": False, "amp_bf16": True}
    (excluded,) = [r for r in result.recommendations if r.kind == "excluded"]
    assert excluded.choice == "bf16" and "max_rel_err 0.08 > 0.05" in excluded.text
    (latency,) = [r for r in result.recommendations if r.kind == "latency"]
    assert latency.choice == "amp_bf16"  # the fastest cell the guard passed


def _sessions(tmp_path, medians, current_ms):
    """Baseline sessions of one CUDA cell (absolute time gated at 5%) with the given medians, each with
    tight rounds (+-1%), plus a quieter second cell so the spread is pooled over more than one."""
    paths = []
    for i, ms in enumerate([*medians, current_ms]):
        cells = [cell("m", "eager", 8, ms, device="cuda"), cell("n", "eager", 8, 20.0 * (1 + 0.01 * (i % 2)),
                                                                device="cuda")]
        paths.append(write_run(tmp_path / f"s{i}.json", cells, when=f"2026-01-0{i + 1}T00:00:00"))
    return paths


def test_the_report_gives_the_gates_verdict_where_the_iqr_rule_said_slower(tmp_path, capsys):
    medians = [10.0, 10.9, 9.6, 10.7, 9.8]  # five sessions: between-session spread of about 6%
    paths = _sessions(tmp_path, medians, 10.75)
    # The old rule compared with the previous run alone: IQRs [9.75, 9.85] and [10.70, 10.80] do not
    # overlap and the ratio is 1.097 > 1.05, so it said "slower".
    prev, cur = (np.percentile(np.linspace(ms * 0.99, ms * 1.01, 20), [25, 75]) for ms in (9.8, 10.75))
    assert prev[1] < cur[0] and 10.75 / 9.8 > 1.05

    result = build_report(load_runs(paths))
    rows = result.verdicts.set_index(["model", "metric"])
    assert rows.loc[("m", "latency_median"), "verdict"] == "unchanged"
    assert rows.loc[("m", "latency_median"), "sessions"] == 5

    # One answer: the same rows as the gate's engine and as `vbench compare`, row for row.
    runs = [load_run(p) for p in paths]
    gate = compare_sessions(runs[:-1], runs[-1], report_policy(runs[-1]), keep=5)
    out = tmp_path / "verdicts.json"
    assert main(["compare", *map(str, paths), "--json", str(out)]) == 0
    capsys.readouterr()
    offline = [(r["fullname"], r["metric"], r["verdict"]) for r in json.loads(out.read_text())["rows"]]
    report_rows = list(zip(result.verdicts["fullname"], result.verdicts["metric"], result.verdicts["verdict"]))
    assert report_rows == [(r.fullname, r.metric, r.verdict) for r in gate.rows] == offline


def test_a_real_regression_is_the_same_regression_in_both(tmp_path, capsys):
    paths = _sessions(tmp_path, [10.0, 10.1, 9.9, 10.05, 9.95], 13.0)
    result = build_report(load_runs(paths))
    ((_, report),) = result.comparisons
    assert report.exit_status == 1
    rows = result.verdicts.set_index(["model", "metric"])
    assert rows.loc[("m", "latency_median"), "verdict"] == "regressed"
    assert main(["compare", *map(str, paths)]) == 1
    assert f"vbench gate: {report.summary()}" in capsys.readouterr().out


@pytest.mark.parametrize("threshold, verdict", [(None, "not gated"), (0.05, "unchanged")])
def test_threshold_is_the_gates_time_tolerance(tmp_path, threshold, verdict):
    # CPU cells: the gate's default reports absolute time without gating it; --threshold gates it.
    runs = [write_run(tmp_path / f"r{i}.json", [cell("m", "eager", 1, ms)], when=f"2026-01-0{i + 1}T00:00:00")
            for i, ms in enumerate((10.0, 10.2, 9.9, 10.1))]
    result = build_report(load_runs(runs), threshold=threshold)
    row = result.verdicts.set_index("metric").loc["latency_median"]
    assert row["verdict"] == verdict
    assert (row["tolerance"] == pytest.approx(0.05)) if threshold else np.isnan(row["tolerance"])
