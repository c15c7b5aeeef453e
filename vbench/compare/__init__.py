"""Regression gate library: baselines, statistics, verdicts and tables. Importable without pytest.

Typical use (what ``vbench compare`` does)::

    from vbench.compare import GatePolicy, compare_runs, load_run, render_text

    report = compare_runs(load_run("base.json"), load_run("current.json"), GatePolicy.build("time:5%"))
    print(render_text(report))
    raise SystemExit(report.exit_status)
"""

from vbench.compare.io import atomic_write_bytes, atomic_write_text
from vbench.compare.policy import DEFAULT_FAIL_ON, GatePolicy, parse_fail_on
from vbench.compare.render import render_json, render_markdown, render_text
from vbench.compare.report import Report, compare_runs
from vbench.compare.runs import (
    CellRecord, ForeignBaselineError, Run, check_hardware, load_run, merge_runs, run_from_json,
)
from vbench.compare.stats import compare_samples
from vbench.compare.verdicts import CHECKS, VERDICTS, Row, judge_cell

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "DEFAULT_FAIL_ON",
    "GatePolicy",
    "parse_fail_on",
    "render_json",
    "render_markdown",
    "render_text",
    "Report",
    "compare_runs",
    "CellRecord",
    "ForeignBaselineError",
    "Run",
    "check_hardware",
    "load_run",
    "merge_runs",
    "run_from_json",
    "compare_samples",
    "CHECKS",
    "VERDICTS",
    "Row",
    "judge_cell",
]
