"""Reports over saved pytest-benchmark JSON (CSV, Markdown, HTML with plots) and the model visualizer.

Runs are read by the gate's reader, correctness is the guard's field, and baseline-vs-current
verdicts are the gate's (:mod:`vbench.compare`). Importable without pytest or a display; matplotlib
is imported only when a plot is drawn.
"""

from vbench.report.build import ReportResult, build_report, write_report
from vbench.report.load import COLUMN_UNITS, load_frame, load_runs, runs_to_frame
from vbench.report.recommend import Recommendation, recommend
from vbench.report.verdicts import split_runs, verdict_rows

__all__ = [
    "ReportResult",
    "build_report",
    "write_report",
    "COLUMN_UNITS",
    "load_frame",
    "load_runs",
    "runs_to_frame",
    "Recommendation",
    "recommend",
    "split_runs",
    "verdict_rows",
]
