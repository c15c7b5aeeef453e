"""``write_report``: runs in, ``cells.csv`` + ``verdicts.csv`` + ``summary.md`` + ``report.html`` +
``plots/*.png`` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vbench.compare import Report, Run
from vbench.report.html import report_html
from vbench.report.load import load_runs, runs_to_frame
from vbench.report.plots import Plot, core_plots, figure_png
from vbench.report.plots_modes import mode_plots
from vbench.report.recommend import Recommendation, add_correctness, recommend
from vbench.report.tables import summary_markdown, write_csv
from vbench.report.verdicts import judge, report_policy, split_runs, verdict_rows

__all__ = ["ReportResult", "build_report", "write_report"]


@dataclass
class ReportResult:
    """What a report consists of, before or after writing: frames, findings, plots and file paths."""

    frame: pd.DataFrame  # every row of every run
    current: pd.DataFrame  # the newest run per hardware key, with correctness
    baseline: pd.DataFrame | None  # the baseline sessions' rows; None when no hardware key has two runs
    verdicts: pd.DataFrame | None  # every gate row (vbench.report.verdicts.VERDICT_COLUMNS)
    recommendations: list[Recommendation]
    plots: list[Plot]
    comparisons: list[tuple[str, Report]] = field(default_factory=list)  # (hardware key, the gate's report)
    files: dict[str, Path] = field(default_factory=dict)


def build_report(runs: Sequence[Run], baseline: str | None = None, *, fail_on: str | None = None,
                 matrix: str | None = None, threshold: float | None = None) -> ReportResult:
    """Everything the report shows, computed from ``runs`` (see :func:`vbench.report.load.load_runs`).

    ``baseline`` is a run label (a file's stem); by default every earlier run of a hardware key is a
    baseline session of its newest. The comparison is the gate's, under its policy for the device,
    ``fail_on`` (``vbench compare --fail-on``), the ``matrix`` file's ``gate:`` block and ``threshold``
    (a fraction: ``--fail-on time:F,relative:F``).
    """
    frame = runs_to_frame(runs)
    splits = split_runs(runs, baseline)
    judged = [(s, judge(s, report_policy(s.current, fail_on, matrix, threshold))) for s in splits if s.baselines]
    current = add_correctness(_rows_of(frame, [s.current for s in splits]))
    base = _rows_of(frame, [b for s, _ in judged for b in s.baselines]) if judged else None
    verdicts = verdict_rows(judged) if judged else None
    plots = core_plots(current) + mode_plots(current, verdicts)
    return ReportResult(frame, current, base, verdicts, recommend(current), plots,
                        [(s.hardware_key, report) for s, report in judged])


def _rows_of(frame: pd.DataFrame, runs: Sequence[Run]) -> pd.DataFrame:
    labels = {r.label for r in runs}
    rows = frame[frame["run"].isin(labels)]
    rows.attrs = dict(frame.attrs)
    return rows


def _trends(targets: Sequence[str | Path], runs: Sequence[Run]) -> tuple[str, str]:
    """The Trends section (Markdown, HTML) for storage folders with many sessions; empty otherwise."""
    from vbench.history.render import render_markdown, trends_html
    from vbench.history.result import cell_pngs, report_trends

    history = report_trends(targets, runs)
    if history is None:
        return "", ""
    body = render_markdown(history).split("\n", 1)[1]  # its own title becomes the section's
    return "\n## Trends\n" + body, "<h2 id='trends'>Trends</h2>\n" + trends_html(history, cell_pngs(history), "h3")


def write_report(
    runs: Sequence[str | Path], out_dir: str | Path, *, baseline: str | None = None, fail_on: str | None = None,
    matrix: str | None = None, threshold: float | None = None,
) -> ReportResult:
    """Load ``runs`` (files or storage folders), build the report (see :func:`build_report` for the
    other arguments) and write it under ``out_dir``. Returns the result with ``files`` set."""
    out = Path(out_dir)
    # bad input fails before anything is created
    loaded = load_runs(runs)
    result = build_report(loaded, baseline, fail_on=fail_on, matrix=matrix, threshold=threshold)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {}
    for plot in result.plots:
        if plot.figure is None:
            continue
        pngs[plot.name] = figure_png(plot.figure)
        path = out / "plots" / f"{plot.name}.png"
        path.write_bytes(pngs[plot.name])
        result.files[f"plots/{plot.name}.png"] = path
    result.files["cells.csv"] = write_csv(result.frame, out / "cells.csv")
    if result.verdicts is not None:
        result.files["verdicts.csv"] = write_csv(result.verdicts, out / "verdicts.csv")
    trends_md, trends_page = _trends(runs, loaded)
    md = out / "summary.md"
    md.write_text(summary_markdown(result.current, result.recommendations, result.comparisons, result.plots) + trends_md)
    result.files["summary.md"] = md
    page = out / "report.html"
    page.write_text(report_html(result.current, result.recommendations, result.comparisons, result.plots, pngs,
                                trends_page))
    result.files["report.html"] = page
    return result
