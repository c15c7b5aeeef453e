"""``report.html``: one self-contained page (inline CSS, plots as PNG data URIs, no script, no network).

The page is generated from the same frames and recommendations as ``summary.md``; nothing on it is
written by hand. Each plot is an ``<img class="plot">`` with ``data-plot=NAME``; an omitted plot is a
``<p class="omitted">`` with the reason, so a reader (or a browser test) can tell which is which.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

import pandas as pd

from vbench.compare import Report
from vbench.correctness import DEFAULT_TOLERANCES
from vbench.report.recommend import Recommendation
from vbench.report.tables import BLANK, cell_table, comparison_table, fmt

__all__ = ["html_table", "report_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#222}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.plot{max-width:100%;border:1px solid #eee;margin:.4em 0}.omitted{color:#8a6d3b;background:#fcf8e3;padding:.4em}
.bad{color:#a00;font-weight:bold}.blank{color:#aaa}li{margin:.2em 0}.small{color:#666;font-size:12px}
.hw{display:flex;gap:1.5em;flex-wrap:wrap;align-items:flex-start}.hw>div{flex:1 1 480px;overflow-x:auto}
.regressed{background:#f8d7da}.improved{background:#d4edda}.inconclusive{background:#fff3cd}
"""


def _cell(value) -> str:
    text = fmt(value)
    if text == BLANK:
        return f'<td class="blank">{BLANK}</td>'
    cls = ' class="bad"' if text == "NO" else ""
    return f"<td{cls}>{html.escape(text)}</td>"


def html_table(frame: pd.DataFrame, headers: Sequence[str] | None = None, row_class: str | None = None) -> str:
    """An HTML table of ``frame``; ``row_class`` names a column whose value becomes each row's class."""
    headers = list(headers or frame.columns)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = []
    for _, row in frame.iterrows():
        cls = f' class="{html.escape(str(row[row_class]).replace(" ", "-"))}"' if row_class else ""
        rows.append(f"<tr{cls}>" + "".join(_cell(v) for v in row.tolist()) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _md_bold(text: str) -> str:
    parts = html.escape(text).split("**")
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))


def _plots_html(plots: Sequence, pngs: dict[str, bytes]) -> str:
    out = []
    for plot in plots:
        out.append(f'<h3 id="plot-{plot.name}">{html.escape(plot.title)}</h3>')
        if plot.figure is not None and plot.name in pngs:
            data = base64.b64encode(pngs[plot.name]).decode("ascii")
            out.append(f'<img class="plot" data-plot="{plot.name}" alt="{html.escape(plot.title)}" '
                       f'src="data:image/png;base64,{data}">')
            if plot.note:
                out.append(f'<p class="small">{html.escape(plot.note)}</p>')
        else:
            out.append(f'<p class="omitted" data-plot="{plot.name}">Omitted: {html.escape(plot.note)}</p>')
    return "\n".join(out)


def report_html(
    current: pd.DataFrame,
    recommendations: list[Recommendation],
    comparisons: Sequence[tuple[str, Report]],
    plots: Sequence,
    pngs: dict[str, bytes],
    trends: str = "",
) -> str:
    """The whole page as a string; ``trends`` is the Trends section (HTML from :mod:`vbench.history`)
    for a storage folder with many sessions, placed after the plots."""
    runs = pd.DataFrame(current.attrs.get("runs", []), columns=["run", "hardware_key", "datetime", "commit", "cells"])
    hws = sorted(current["hardware_key"].unique())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>vbench report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>vbench report</h1>",
        f"<p class='small'>{len(current)} cells on {len(hws)} hardware key(s). Cells from different hardware are "
        "shown side by side and never averaged.</p>",
        "<h2 id='runs'>Runs</h2>", html_table(runs),
        "<h2 id='recommendations'>Recommendations</h2>",
    ]
    if recommendations:
        for hw in dict.fromkeys(r.hardware_key for r in recommendations):
            parts.append(f"<h3>{html.escape(hw)}</h3><ul>")
            parts += [f"<li class='rec rec-{r.kind}'>{_md_bold(r.text)}</li>" for r in recommendations
                      if r.hardware_key == hw]
            parts.append("</ul>")
    else:
        parts.append("<p class='omitted'>No inference cell with timing: nothing to recommend.</p>")
    tol = pd.DataFrame([(k, t.max_rel_err, t.mean_rel_err, t.min_top1) for k, t in DEFAULT_TOLERANCES.items()],
                       columns=["precision", "max_rel_err", "mean_rel_err", "min top-1 agreement"])
    parts += ["<p class='small'>Correct = the correctness guard of the run wrote <code>ok</code> for the cell "
              "(agreement with fp32 eager within the tolerance of its precision; its default tolerances are below, "
              "<code>--vb-tolerance</code> changes them); blank = not recorded or not checked, never recommended. "
              "Within noise = the interquartile ranges of per-round times overlap.</p>", html_table(tol)]
    if comparisons:
        parts += ["<h2 id='comparison'>Baseline vs current</h2>",
                  "<p class='small'>The regression gate's verdicts (the same as <code>vbench compare</code>).</p>"]
        for hw, report in comparisons:
            table, lines = comparison_table(report)
            parts += [f"<h3>{html.escape(hw)}</h3>", *[f"<p class='small'>{html.escape(line)}</p>" for line in lines],
                      html_table(table, row_class="verdict")]
    parts += ["<h2 id='plots'>Plots</h2>", _plots_html(plots, pngs)]
    if trends:
        parts.append(trends)
    parts += ["<h2 id='cells'>Cells</h2>",
              f"<p class='small'>{BLANK} = not recorded by that run (older schema) or not applicable. "
              "Every column is in cells.csv.</p><div class='hw'>"]
    for hw in hws:
        table, headers = cell_table(current[current["hardware_key"] == hw])
        parts.append(f"<div><h3>{html.escape(hw)}</h3>{html_table(table, headers)}</div>")
    parts.append("</div>")
    units = current.attrs.get("units", {})
    unit_rows = pd.DataFrame([(c, u) for c, u in units.items() if u], columns=["column", "unit"])
    parts += ["<h2 id='units'>Units</h2>", html_table(unit_rows), "</body></html>"]
    return "\n".join(parts)
