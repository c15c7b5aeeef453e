"""Baseline vs current: which runs are which, the gate's verdict words, and hardware never mixed."""

from __future__ import annotations

import pytest
from report_json import cell, write_run

from vbench.errors import VBenchError
from vbench.report import build_report, load_runs, split_runs


def _two_runs(tmp_path, hw_b="hw-a", hw_c="hw-a"):
    base = write_run(tmp_path / "base.json", [
        cell("m", "eager", 1, 10.0), cell("m", "bf16", 1, 5.0, precision="bf16"),
        cell("m", "channels_last", 1, 8.0, spread=0.05), cell("m", "compile", 1, 6.0),
    ], hardware_key=hw_b, when="2026-01-01T00:00:00")
    cur = write_run(tmp_path / "cur.json", [
        cell("m", "eager", 1, 12.0), cell("m", "bf16", 1, 4.0, precision="bf16"),
        cell("m", "channels_last", 1, 8.1, spread=0.05), cell("m", "torchscript", 1, 9.0),
    ], hardware_key=hw_c, when="2026-01-02T00:00:00")
    return base, cur


def test_time_order_decides_and_the_gate_gives_the_verdicts(tmp_path):
    # Given newest first on the command line: time order decides, not argument order.
    base, cur = _two_runs(tmp_path)
    (split,) = split_runs(load_runs([cur, base]))
    assert split.current.label == "cur" and [b.label for b in split.baselines] == ["base"]
    result = build_report(load_runs([cur, base]))
    assert set(result.current["run"]) == {"cur"} and set(result.baseline["run"]) == {"base"}
    v = result.verdicts
    cells = v[v["metric"] == "-"].set_index("optimization")["verdict"]
    assert cells.to_dict() == {"torchscript": "new", "compile": "missing"}
    time = v[v["metric"] == "latency_median"].set_index("optimization")
    # on a CPU the gate reports absolute time and judges norm_time (these files have no probe samples)
    assert set(time["verdict"]) == {"not gated"}
    assert time.loc["eager", "baseline"] == pytest.approx(10.0) and time.loc["eager", "change"] == pytest.approx(0.2)
    assert set(v["verdict"]) <= {"regressed", "inconclusive", "improved", "unchanged", "not gated", "new", "missing",
                                 "model changed"}


def test_explicit_baseline_label(tmp_path):
    base, cur = _two_runs(tmp_path)
    runs = load_runs([base, cur])
    (split,) = split_runs(runs, baseline="cur")
    assert split.current.label == "base" and [b.label for b in split.baselines] == ["cur"]
    with pytest.raises(VBenchError, match="baseline run 'nope' is not among"):
        split_runs(runs, baseline="nope")


def test_every_earlier_run_is_a_baseline_session(tmp_path):
    runs = [write_run(tmp_path / f"s{i}.json", [cell("m", "eager", 1, 10.0 + i)], when=f"2026-01-0{i}T00:00:00")
            for i in range(1, 5)]
    (split,) = split_runs(load_runs(runs))
    assert split.current.label == "s4" and [b.label for b in split.baselines] == ["s1", "s2", "s3"]


def test_different_hardware_is_never_compared_or_pooled(tmp_path):
    base, cur = _two_runs(tmp_path, hw_b="gpu-x", hw_c="cpu-y")
    result = build_report(load_runs([base, cur]))
    assert result.baseline is None and result.verdicts is None and result.comparisons == []
    assert len(result.current) == len(result.frame) == 8
    eager = result.current[result.current["optimization"] == "eager"].set_index("hardware_key")["latency_ms_p50"]
    assert eager.to_dict() == pytest.approx({"gpu-x": 10.0, "cpu-y": 12.0})
