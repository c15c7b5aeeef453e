"""The metric registry: a metric registered from a user's conftest.py reaches the cell's JSON, the gate's
verdict table and the report, through real pytest sessions of a tiny project."""

from __future__ import annotations

import csv
import json

import pytest

from gate_helpers import CELL_ARGS, make_project
from vbench.cli import main as vbench_main
from vbench.compare.verdicts import gate_metrics
from vbench.errors import VBenchError
from vbench.metrics.registry import METRICS, list_metrics, register_metric
from vbench.report.tables import cell_columns
from vbench.schema import UNITS

USER_METRIC = '''

from vbench import register_metric


@register_metric("logit_abs_mean", unit="logit", gate="memory", report_column=True, overwrite=True)
def logit_abs_mean(cell):
    """Mean absolute logit of the output checked against fp32 eager."""
    return float(cell.output.float().abs().mean())
'''
# Time is not judged here (no timing assertions): only the user's metric, with the memory tolerance.
ONLY_MEMORY = "time:off,tail:off,relative:off,rss:off,cold_start:off"


@pytest.fixture
def project(pytester, monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    make_project(pytester)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + USER_METRIC)
    yield pytester
    METRICS.remove("logit_abs_mean")  # the registry is per process: leave it as vbench declares it


def test_vbench_declares_its_metrics_once_for_schema_gate_and_report():
    names = [m.name for m in list_metrics()]
    assert len(names) == len(set(names))
    assert [m.name for m in gate_metrics()] == [
        "latency_median", "latency_p90", "norm_time", "rel_time", "peak_mem_allocated_mb", "peak_mem_reserved_mb",
        "peak_rss_mb", "cold_start_s", "gmacs", "params"]
    assert UNITS["samples_per_s"] == "samples/s" and UNITS["gmacs"] == "GMAC/sample"
    assert cell_columns()[5:9] == ("samples_per_s", "latency_ms_p50", "latency_ms_p99", "mem_mb")


def test_a_gate_category_must_be_one_the_gate_knows():
    with pytest.raises(VBenchError, match="gate category 'speed' is not one of time, tail"):
        register_metric("bad_metric", gate="speed")(lambda cell: 1.0)
    assert "bad_metric" not in METRICS


def test_a_metric_registered_in_a_conftest_reaches_the_json_the_gate_and_the_report(project, tmp_path):
    for _ in range(2):  # two stored sessions to judge against
        project.runpytest(*CELL_ARGS, "--vb-opts", "eager", "--vb-batch-sizes", "1",
                          "--benchmark-autosave").assert_outcomes(passed=1)
    result = project.runpytest(*CELL_ARGS, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                               "--vb-fail-on", ONLY_MEMORY, "--benchmark-json", "current.json", "-v")
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs1-32px*logit_abs_mean*logit*unchanged*"])

    data = json.loads((project.path / "current.json").read_text())
    extra = data["benchmarks"][0]["extra_info"]
    assert extra["logit_abs_mean"] > 0 and extra["correctness"] == "ok"
    rows = [r for r in data["vbench_gate"]["rows"] if r["metric"] == "logit_abs_mean"]
    assert len(rows) == 1 and rows[0]["verdict"] == "unchanged" and rows[0]["unit"] == "logit"
    assert rows[0]["current"] == pytest.approx(extra["logit_abs_mean"])

    out = tmp_path / "report"
    assert vbench_main(["report", str(project.path / ".benchmarks"), "--out", str(out)]) == 0
    with open(out / "cells.csv", newline="") as f:
        cells = list(csv.DictReader(f))
    assert cells and all(float(c["logit_abs_mean"]) == pytest.approx(extra["logit_abs_mean"]) for c in cells)
    assert "logit_abs_mean (logit)" in (out / "summary.md").read_text()
    with open(out / "verdicts.csv", newline="") as f:
        assert any(r["metric"] == "logit_abs_mean" for r in csv.DictReader(f))
