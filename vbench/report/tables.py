"""Text outputs: ``cells.csv`` (every column, machine-readable) and ``summary.md`` (for people and PRs).

Blanks stay visible: a value a run did not record (an older schema, CUDA memory on a CPU) is an
empty CSV field and an em dash in Markdown, never a zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from vbench.compare import Report
from vbench.compare.render import COLUMNS, MAX_ROWS, format_row, visible_rows
from vbench.report.recommend import Recommendation
from vbench.pytest_plugin.run_summary import is_contended

__all__ = [
    "contention_warnings", "BLANK", "cell_columns", "write_csv", "fmt", "markdown_table", "cell_table",
    "comparison_table", "summary_markdown"]

BLANK = "—"

# What a cell is, before its metrics, and the guard's verdict after them.
_CELL_KEY_COLUMNS = ("model", "optimization", "precision", "batch_size", "img_size")


def cell_columns() -> tuple[str, ...]:
    """The per-cell table's columns people read first (the CSV has all of them): the cell, every
    metric registered with ``report_column`` (vbench's and users'), and whether it was correct."""
    from vbench.metrics.registry import list_metrics

    return (*_CELL_KEY_COLUMNS, *(m.name for m in list_metrics() if m.report_column), "correct")


def write_csv(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write every column except the raw samples (kept in the JSON) to ``path``."""
    path = Path(path)
    frame.drop(columns=[c for c in ("samples_s",) if c in frame]).to_csv(path, index=False)
    return path


def fmt(value, digits: int = 4) -> str:
    """A cell value for a table: blanks as an em dash, floats to ``digits`` significant digits."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return BLANK
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def markdown_table(frame: pd.DataFrame, headers: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table of ``frame`` (values through :func:`fmt`)."""
    headers = list(headers or frame.columns)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(fmt(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


def cell_table(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The readable per-cell table and its headers with units, sorted by model, batch, optimization."""
    units = frame.attrs.get("units", {})
    cols = [c for c in cell_columns() if c in frame]
    table = frame.sort_values(["model", "img_size", "batch_size", "optimization"], kind="stable")[cols]
    headers = [f"{c} ({units[c]})" if units.get(c) else c for c in cols]
    return table, headers


def comparison_table(report: Report) -> tuple[pd.DataFrame, list[str]]:
    """The gate's verdict table as the gate prints it (its columns and formatting; unchanged and
    not-gated rows left out above :data:`~vbench.compare.render.MAX_ROWS` rows), and the lines that
    go with it: its notes, the run-level error control and the verdict counts."""
    rows, hidden = visible_rows(report, MAX_ROWS)
    table = pd.DataFrame([format_row(r) for r in rows], columns=list(COLUMNS))
    lines = [f"baseline: {report.baseline}; current: {report.current}", *report.notes]
    if hidden:
        lines.append(f"{hidden} unchanged or not gated rows not shown (every row is in verdicts.csv)")
    if report.control_line():
        lines.append(report.control_line())
    lines.append(f"vbench gate: {report.summary()}")
    return table, lines


def _runs_md(runs: list[dict]) -> str:
    frame = pd.DataFrame(runs, columns=["run", "hardware_key", "datetime", "commit", "cells"])
    return markdown_table(frame)


def contention_warnings(current: pd.DataFrame) -> list[str]:
    """One line per hardware key whose cells ran on a busy machine (median 1-minute load above the
    threads the cells used + 1): its timings measured the other work too, so its recommendations are
    weaker than they read."""
    if "load_avg_1m" not in current or "threads" not in current:
        return []
    out = []
    for hw, cells in current.groupby("hardware_key", sort=True):
        load, threads = cells["load_avg_1m"].dropna(), cells["threads"].dropna()
        if load.empty or threads.empty or not is_contended(load.median(), threads.median()):
            continue
        out.append(f"{hw}: the cells ran on a busy machine (median load {load.median():.1f} with "
                   f"{threads.median():.0f} thread(s) per cell): timings are contended; treat speedups with care")
    return out


def summary_markdown(
    current: pd.DataFrame,
    recommendations: list[Recommendation],
    comparisons: Sequence[tuple[str, Report]],
    plots: Sequence,
    png_dir: str = "plots",
) -> str:
    """The Markdown summary: runs, recommendations, cells per hardware key, the gate's verdicts per
    hardware key (``comparisons``: (key, report) pairs), plot links."""
    out = ["# vbench report", "", "## Runs", "", _runs_md(current.attrs.get("runs", [])), ""]
    out += [f"> **Warning**: {line}" for line in contention_warnings(current)] + [""] * bool(contention_warnings(current))
    out += ["## Recommendations", ""]
    if recommendations:
        for hw in dict.fromkeys(r.hardware_key for r in recommendations):
            out += [f"### {hw}", ""]
            out += [f"- {r.text}" for r in recommendations if r.hardware_key == hw]
            out.append("")
    else:
        out += ["No inference cell with timing: nothing to recommend.", ""]
    out += ["## Cells", "", f"Blank ({BLANK}) = not recorded by that run (older schema) or not applicable.", ""]
    for hw, cells in current.groupby("hardware_key", sort=True):
        table, headers = cell_table(cells)
        out += [f"### {hw}", "", markdown_table(table, headers), ""]
    if comparisons:
        out += ["## Baseline vs current", "", "The regression gate's verdicts (the same as `vbench compare`).", ""]
        for hw, report in comparisons:
            table, lines = comparison_table(report)
            out += [f"### {hw}", "", *[f"> {line}  " for line in lines], "", markdown_table(table), ""]
    out += ["## Plots", ""]
    for plot in plots:
        if plot.figure is not None:
            out += [f"![{plot.title}]({png_dir}/{plot.name}.png)", ""]
        else:
            out += [f"- {plot.title}: {plot.note}", ""]
    return "\n".join(out).rstrip() + "\n"
