"""A history as Markdown (the steps), JSON (everything) and one self-contained HTML page (inline CSS,
plots as PNG data URIs, no script, no network). Rendering only: what is found lives in
:mod:`vbench.history.trends`."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence

from vbench.history.changepoints import PERMUTATIONS, SEED
from vbench.history.result import HistoryResult
from vbench.history.trends import GATE_ALPHA, Step, Trend

__all__ = ["method_line", "render_markdown", "render_json", "render_html", "trends_html"]


def method_line(result: HistoryResult) -> str:
    """How the steps were found, in one line."""
    return (f"change points: E-divisive means on log values (Matteson & James 2014), permutation test "
            f"p < {result.alpha:g} ({PERMUTATIONS} shuffles, seed {SEED}), at least {result.min_size} sessions "
            f"per segment; shaded: the gate's baseline, the newest {result.baseline_runs} sessions after the last "
            f"step with p < {GATE_ALPHA:g} beyond the tolerance")


def _commit_range(result: HistoryResult, step: Step) -> str:
    before, after = result.history.sessions[step.before], result.history.sessions[step.after]
    return f"{before.label}..{after.label}"


def _when(result: HistoryResult, step: Step) -> str:
    when = result.history.sessions[step.after].when
    return when.strftime("%Y-%m-%d %H:%M") if when else "?"


def _stepped(result: HistoryResult) -> list[tuple[Trend, Step]]:
    return [(t, s) for t in result.trends for s in t.steps]


def render_markdown(result: HistoryResult) -> str:
    """The summary: sessions, notes, and one row per step (cell, metric, size, when, commits, p)."""
    history = result.history
    sessions = history.sessions
    lines = ["# vbench history", "",
             f"Hardware key `{history.hardware_key or 'unknown'}`: {len(sessions)} session(s), "
             f"{sessions[0].label} .. {sessions[-1].label}; {len(result.trends)} series "
             f"({len({t.series.fullname for t in result.trends})} cells).", "", method_line(result) + ".", ""]
    lines += [f"- {note}" for note in history.notes + result.notes]
    if history.notes or result.notes:
        lines.append("")
    stepped = _stepped(result)
    if not stepped:
        lines.append("No change point in any series.")
        return "\n".join(lines) + "\n"
    lines += ["| cell | metric | step | first session after | commits | p | newest vs oldest |",
              "|---|---|---|---|---|---|---|"]
    for trend, step in stepped:
        total = f"{trend.total:+.1%}" if trend.total is not None and len(trend.steps) > 1 else ""
        lines.append(f"| {trend.series.cell} | {trend.series.metric.name} | {step.size:+.1%} | {_when(result, step)} | "
                     f"`{_commit_range(result, step)}` | {step.p_value:.3f} | {total} |")
    quiet = sum(not t.steps for t in result.trends)
    lines += ["", f"{len(stepped)} step(s) in {sum(bool(t.steps) for t in result.trends)} series; {quiet} series "
              "without a step. `git log BEFORE..AFTER` lists the commits a step can come from."]
    return "\n".join(lines) + "\n"


def _step_dict(result: HistoryResult, step: Step) -> dict:
    sessions = result.history.sessions
    return {"before": step.before, "after": step.after, "before_commit": sessions[step.before].commit,
            "after_commit": sessions[step.after].commit, "when": _when(result, step), "size": step.size,
            "p_value": step.p_value}


def render_json(result: HistoryResult) -> str:
    """Everything: sessions, method, notes and every series with its values, steps and window."""
    history = result.history
    data = {
        "hardware_key": history.hardware_key,
        "method": {"name": "e-divisive means", "alpha": result.alpha, "min_size": result.min_size,
                   "permutations": PERMUTATIONS, "seed": SEED, "gate_alpha": GATE_ALPHA,
                   "baseline_runs": result.baseline_runs, "scale": "log"},
        "notes": history.notes + result.notes,
        "sessions": [{"source": s.source, "commit": s.commit, "time": s.when.isoformat() if s.when else None,
                      "has_git_info": s.has_git} for s in history.sessions],
        "series": [{"cell": t.series.cell, "fullname": t.series.fullname, "metric": t.series.metric.name,
                    "unit": t.series.metric.unit, "values": t.series.values,
                    "steps": [_step_dict(result, s) for s in t.steps], "total": t.total,
                    "segments": t.segments, "gate_window": t.window} for t in result.trends],
    }
    return json.dumps(data, indent=1)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;
color:#222}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.4em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 6px}
th{background:#f3f3f3}.trend{max-width:100%;border:1px solid #eee;margin:.3em 0}.small{color:#666;font-size:12px}
.up{color:#a00}.down{color:#070}
"""


def trends_html(result: HistoryResult, pngs: Mapping[str, bytes], heading: str = "h2") -> str:
    """The steps table and one ``<img class="trend" data-cell=FULLNAME>`` per cell, cells with a step
    first: the body of the history page, and the report's Trends section."""
    parts = [f"<p class='small'>{html.escape(method_line(result))}.</p>"]
    parts += [f"<p class='small'>{html.escape(n)}</p>" for n in result.history.notes + result.notes]
    stepped = _stepped(result)
    if stepped:
        rows = "".join(
            f"<tr class='step'><td>{html.escape(t.series.cell)}</td><td>{t.series.metric.name}</td>"
            f"<td class='{'up' if s.size > 0 else 'down'}'>{s.size:+.1%}</td><td>{_when(result, s)}</td>"
            f"<td><code>{html.escape(_commit_range(result, s))}</code></td><td>{s.p_value:.3f}</td></tr>"
            for t, s in stepped)
        parts.append("<table><thead><tr><th>cell</th><th>metric</th><th>step</th><th>first session after</th>"
                     f"<th>commits</th><th>p</th></tr></thead><tbody>{rows}</tbody></table>")
    else:
        parts.append("<p>No change point in any series.</p>")
    for fullname in ordered_cells(result.trends):
        data = base64.b64encode(pngs[fullname]).decode("ascii")
        cell = next(t.series.cell for t in result.trends if t.series.fullname == fullname)
        parts.append(f"<{heading} class='cell'>{html.escape(cell)}</{heading}>"
                     f"<img class='trend' data-cell='{html.escape(fullname, quote=True)}' alt='{html.escape(cell)}' "
                     f"src='data:image/png;base64,{data}'>")
    return "\n".join(parts)


def ordered_cells(trends: Sequence[Trend]) -> list[str]:
    """Cell fullnames, those with a step first, otherwise in the order they were found."""
    cells = list(dict.fromkeys(t.series.fullname for t in trends))
    stepped = {t.series.fullname for t in trends if t.steps}
    return sorted(cells, key=lambda c: c not in stepped)


def render_html(result: HistoryResult, pngs: Mapping[str, bytes]) -> str:
    """The whole page: a heading, the steps and the per-cell plots."""
    history = result.history
    return "\n".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'><title>vbench history</title>",
        f"<style>{_CSS}</style></head><body><h1>vbench history</h1>",
        f"<p class='small'>hardware key {html.escape(history.hardware_key or 'unknown')}: "
        f"{len(history.sessions)} sessions in commit order, {history.sessions[0].label} .. {history.sessions[-1].label}"
        "</p>", trends_html(result, pngs, "h3"), "</body></html>"])
