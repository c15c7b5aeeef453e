"""The verdict table as terminal text, Markdown and JSON. Rendering only: no judging here."""

from __future__ import annotations

import html
import json
import math

from vbench.compare.report import Report
from vbench.compare.verdicts import NOT_GATED, UNCHANGED, Row

__all__ = ["COLUMNS", "MAX_ROWS", "format_row", "visible_rows", "render_text", "render_markdown", "render_json"]

COLUMNS = ("cell", "metric", "baseline", "current", "change", "can catch", "p", "verdict", "note")
# Above this many rows a table leaves unchanged and not-gated rows out (vbench compare --all shows them).
MAX_ROWS = 60


def _num(value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * 100:+.1f}%" if signed else f"±{value * 100:.1f}%"


def format_row(row: Row) -> tuple[str, ...]:
    """The row's cells as strings, in :data:`COLUMNS` order."""
    unit = f" {row.unit}" if row.unit else ""
    p = f"{row.p_value:.2g}" if row.p_value is not None and math.isfinite(row.p_value) and row.verdict != NOT_GATED else "-"
    return (
        row.cell,
        row.metric,
        _num(row.baseline) + (unit if row.baseline is not None else ""),
        _num(row.current) + (unit if row.current is not None else ""),
        _pct(row.change),
        f">{row.can_catch * 100:.1f}%" if row.can_catch is not None and math.isfinite(row.can_catch) else "-",
        p,
        row.verdict,
        row.note,
    )


def visible_rows(report: Report, max_rows: int | None) -> tuple[list[Row], int]:
    """The rows a table shows and how many it leaves out: all of them up to ``max_rows`` (None: no
    limit), else only those whose verdict is neither unchanged nor not gated."""
    rows = report.rows
    if max_rows is None or len(rows) <= max_rows:
        return rows, 0
    shown = [r for r in rows if r.verdict not in (UNCHANGED, NOT_GATED)]
    return shown, len(rows) - len(shown)


def render_text(report: Report, max_rows: int | None = None) -> str:
    """A fixed-width table; above ``max_rows`` rows, unchanged rows are left out (and counted)."""
    rows, hidden = visible_rows(report, max_rows)
    table = [COLUMNS] + [format_row(r) for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = [f"baseline: {report.baseline} ({report.baseline_key})", f"current:  {report.current} ({report.current_key})"]
    lines += report.notes
    for i, line in enumerate(table):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if hidden:
        lines.append(f"({hidden} unchanged or not gated rows not shown; pytest -v or vbench compare --all shows every row)")
    if report.control_line():
        lines.append(report.control_line())
    lines.append(f"vbench gate: {report.summary()}")
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """A GitHub-flavoured Markdown section (for ``--vb-verdict-md`` and ``$GITHUB_STEP_SUMMARY``)."""
    status = "FAILED: performance regressed" if report.exit_status else "passed"
    out = [
        f"### vbench gate: {status}",
        "",
        f"Baseline `{_md_cell(report.baseline)}` (`{_md_cell(str(report.baseline_key))}`) vs current "
        f"`{_md_cell(report.current)}` (`{_md_cell(str(report.current_key))}`): {report.summary()}.",
        "",
    ]
    out += [f"> {_md_cell(note)}" for note in report.notes + ([report.control_line()] if report.control_line() else [])]
    out += ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in report.rows:
        cells = list(format_row(row))
        if row.verdict not in (UNCHANGED, NOT_GATED):
            cells[7] = f"**{cells[7]}**"
        out.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(out) + "\n"


def _md_cell(text: str) -> str:
    """A table cell with the HTML a JSON field might carry escaped (GitHub renders HTML in Markdown)."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\n", " ")


def render_json(report: Report) -> str:
    """The report as indented JSON (rows with raw numbers, counts, tolerances, exit status)."""
    return json.dumps(report.as_dict(), indent=2, allow_nan=False) + "\n"
