"""``write_report``: runs in, ``cells.csv`` + ``summary.md`` + ``report.html`` + ``plots/*.png`` out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vbench.report.html import report_html
from vbench.report.load import load_frame
from vbench.report.plots import Plot, core_plots, figure_png
from vbench.report.plots_modes import mode_plots
from vbench.report.recommend import Recommendation, add_correctness, recommend
from vbench.report.tables import summary_markdown, write_csv
from vbench.report.verdicts import split_runs, verdict_rows

__all__ = ["ReportResult", "build_report", "write_report"]


@dataclass
class ReportResult:
    """What a report consists of, before or after writing: frames, findings, plots and file paths."""

    frame: pd.DataFrame  # every row of every run
    current: pd.DataFrame  # the newest run per hardware key, with correctness
    baseline: pd.DataFrame | None
    verdicts: pd.DataFrame | None
    recommendations: list[Recommendation]
    plots: list[Plot]
    files: dict[str, Path] = field(default_factory=dict)


def build_report(frame: pd.DataFrame, baseline: str | None = None, threshold: float = 0.05) -> ReportResult:
    """Everything the report shows, computed from ``frame`` (see :func:`vbench.report.load.load_frame`)."""
    current, base = split_runs(frame, baseline)
    current = add_correctness(current)
    verdicts = verdict_rows(base, current, threshold) if base is not None else None
    plots = core_plots(current) + mode_plots(current, verdicts)
    return ReportResult(frame, current, base, verdicts, recommend(current), plots)


def _trends(runs: Sequence[str | Path]) -> tuple[str, str]:
    """The Trends section (Markdown, HTML) for storage folders with many sessions; empty otherwise."""
    from vbench.history.render import render_markdown, trends_html
    from vbench.history.result import cell_pngs, report_trends

    history = report_trends(runs)
    if history is None:
        return "", ""
    body = render_markdown(history).split("\n", 1)[1]  # its own title becomes the section's
    return "\n## Trends\n" + body, "<h2 id='trends'>Trends</h2>\n" + trends_html(history, cell_pngs(history), "h3")


def write_report(
    runs: Sequence[str | Path], out_dir: str | Path, *, baseline: str | None = None, threshold: float = 0.05,
) -> ReportResult:
    """Load ``runs`` (files or storage folders), build the report and write it under ``out_dir``.

    ``baseline`` is a run label (a file's stem) to compare the others with; by default the run
    before the newest on each hardware key is the baseline. Returns the result with ``files`` set.
    """
    out = Path(out_dir)
    result = build_report(load_frame(runs), baseline, threshold)  # bad input fails before anything is created
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
    trends_md, trends_page = _trends(runs)
    md = out / "summary.md"
    md.write_text(summary_markdown(result.current, result.recommendations, result.verdicts, result.plots) + trends_md)
    result.files["summary.md"] = md
    page = out / "report.html"
    page.write_text(report_html(result.current, result.recommendations, result.verdicts, result.plots, pngs,
                                trends_page))
    result.files["report.html"] = page
    return result
