"""One small trend figure per cell: a panel per metric, sessions in commit order, steps marked and
the gate's baseline window shaded. Drawn with the report's Agg figure helpers (no pyplot)."""

from __future__ import annotations

from collections.abc import Sequence

from vbench.history.series import Session
from vbench.history.trends import Trend
from vbench.report.plots import figure_png, new_figure

__all__ = ["MAX_TICKS", "cell_figure", "cell_png"]

MAX_TICKS = 12  # commit labels on the x axis at most; more would overlap


def _ticks(sessions: Sequence[Session]) -> tuple[list[int], list[str]]:
    every = max(1, -(-len(sessions) // MAX_TICKS))
    positions = list(range(0, len(sessions), every))
    if positions[-1] != len(sessions) - 1:
        positions.append(len(sessions) - 1)
    return positions, [sessions[i].label[:7] for i in positions]


def cell_figure(trends: Sequence[Trend], sessions: Sequence[Session]):
    """A figure for one cell: one panel per metric (``trends`` of that cell)."""
    fig, axes = new_figure(len(trends), 1, width=3.6, height=2.4)
    positions, labels = _ticks(sessions)
    for ax, trend in zip(axes[0], trends):
        metric = trend.series.metric
        points = trend.series.present()
        xs = [i for i, _ in points]
        ys = [v * metric.scale for _, v in points]
        if trend.window:
            ax.axvspan(min(trend.window) - 0.4, max(trend.window) + 0.4, color="#4c72b0", alpha=0.12, lw=0,
                       label="gate baseline")
        ax.plot(xs, ys, "o-", color="#333", ms=3, lw=1)
        for start, end in trend.segments:
            seg = [v * metric.scale for i, v in points if start <= i < end]
            if seg:
                level = float(sorted(seg)[len(seg) // 2])
                ax.hlines(level, start - 0.3, end - 0.7, color="#888", lw=1, ls=":")
        for step in trend.steps:
            ax.axvline((step.before + step.after) / 2, color="#c0392b", ls="--", lw=1.2)
            ax.annotate(f" {step.size:+.0%}", ((step.before + step.after) / 2, 0.97),
                        xycoords=("data", "axes fraction"), ha="left", va="top", fontsize=7, color="#c0392b")
        gated = "" if trend.window else " (not gated)"
        ax.set_title(f"{metric.name}{gated}", fontsize=8)
        ax.set_ylabel(metric.unit, fontsize=7)
        ax.set_xticks(positions, labels, rotation=60, fontsize=6, ha="right")
        ax.tick_params(axis="y", labelsize=7)
        ax.set_xlim(-0.6, len(sessions) - 0.4)
    return fig  # the page's heading names the cell


def cell_png(trends: Sequence[Trend], sessions: Sequence[Session]) -> bytes:
    """:func:`cell_figure` as PNG bytes."""
    return figure_png(cell_figure(trends, sessions), dpi=90)
