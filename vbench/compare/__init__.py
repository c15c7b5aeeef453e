"""Regression gate library: baselines, statistics, verdicts and tables. Importable without pytest.

Typical use (what ``vbench compare`` does)::

    from vbench.compare import GatePolicy, compare_sessions, load_run, render_text

    report = compare_sessions([load_run(p) for p in ("s1.json", "s2.json", "s3.json")], load_run("current.json"),
                              GatePolicy.build("relative:5%"))
    print(render_text(report))
    raise SystemExit(report.exit_status)
"""

from vbench.compare.io import atomic_write_bytes, atomic_write_text
from vbench.compare.policy import DEFAULT_FAIL_ON, DEVICE_FAIL_ON, GatePolicy, parse_fail_on
from vbench.compare.render import render_json, render_markdown, render_text
from vbench.compare.engine import compare_paired, compare_sessions
from vbench.compare.report import Report, suspect_cells
from vbench.compare.runs import CellRecord, ForeignBaselineError, Run, check_hardware, load_run, run_from_json
from vbench.compare.verdicts import VERDICTS, Metric, Row, gate_metrics

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "DEFAULT_FAIL_ON",
    "DEVICE_FAIL_ON",
    "GatePolicy",
    "parse_fail_on",
    "render_json",
    "render_markdown",
    "render_text",
    "Report",
    "compare_sessions",
    "compare_paired",
    "suspect_cells",
    "CellRecord",
    "ForeignBaselineError",
    "Run",
    "check_hardware",
    "load_run",
    "run_from_json",
    "gate_metrics",
    "VERDICTS",
    "Metric",
    "Row",
]
