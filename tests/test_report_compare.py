"""Baseline vs current: which run is which, per-cell verdicts, and hardware never mixed."""

from __future__ import annotations

import pytest
from report_json import cell, write_run

from vbench.errors import VBenchError
from vbench.report import load_frame, split_runs, verdict_rows


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


def test_verdicts_from_ratio_of_medians(tmp_path):
    # Given newest first on the command line: time order decides, not argument order.
    base, cur = _two_runs(tmp_path)
    frame = load_frame([cur, base])
    current, baseline = split_runs(frame)
    assert set(current["run"]) == {"cur"} and set(baseline["run"]) == {"base"}
    v = verdict_rows(baseline, current, threshold=0.05).set_index("optimization")
    assert v.loc["eager", "ratio"] == pytest.approx(1.2)
    assert v.loc["eager", "verdict"] == "slower"
    assert v.loc["bf16", "ratio"] == pytest.approx(0.8)
    assert v.loc["bf16", "verdict"] == "faster"
    assert v.loc["channels_last", "verdict"] == "within noise"  # 8.0 +-5% vs 8.1 +-5%
    assert v.loc["compile", "verdict"] == "gone"
    assert v.loc["torchscript", "verdict"] == "new"
    assert v.loc["eager", "baseline_ms"] == pytest.approx(10.0)


def test_explicit_baseline_label(tmp_path):
    base, cur = _two_runs(tmp_path)
    frame = load_frame([base, cur])
    current, baseline = split_runs(frame, baseline="cur")
    assert set(current["run"]) == {"base"} and set(baseline["run"]) == {"cur"}
    with pytest.raises(VBenchError, match="baseline run 'nope' is not among"):
        split_runs(frame, baseline="nope")


def test_different_hardware_is_never_compared_or_pooled(tmp_path):
    base, cur = _two_runs(tmp_path, hw_b="gpu-x", hw_c="cpu-y")
    frame = load_frame([base, cur])
    current, baseline = split_runs(frame)
    assert baseline is None
    assert len(current) == len(frame) == 8
    eager = current[current["optimization"] == "eager"].set_index("hardware_key")["latency_ms_p50"]
    assert eager.to_dict() == pytest.approx({"gpu-x": 10.0, "cpu-y": 12.0})
