"""The short summary a run ends with: one line per cell, how long the harness took around the timed
rounds, and a warning when the machine was busy while the cells ran."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["cell_lines", "overhead_line", "contention_line", "is_contended", "MAX_ROWS"]

MAX_ROWS = 40
_COLUMNS = ("cell", "samples/s", "p50 ms", "memory MiB", "correctness")


def _memory(extra: Mapping[str, Any]) -> float | None:
    return extra.get("peak_mem_allocated_mb") or extra.get("peak_rss_mb")


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def cell_lines(cells: Iterable[tuple[str, Mapping[str, Any]]], max_rows: int | None = MAX_ROWS) -> list[str]:
    """A fixed-width table of ``(name, extra_info)``: mode and cell, samples/s, p50, memory, correctness."""
    rows = [(f"{extra.get('mode', '')} {name.split('[', 1)[-1].rstrip(']')}".strip(),
             _fmt(extra.get("samples_per_s"), ",.1f"), _fmt(extra.get("latency_ms_p50"), ".3f"),
             _fmt(_memory(extra), ",.0f"), str(extra.get("correctness") or "-")) for name, extra in cells]
    hidden = 0
    if max_rows is not None and len(rows) > max_rows:
        hidden, rows = len(rows) - max_rows, rows[:max_rows]
    table = [_COLUMNS, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(_COLUMNS))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
             for r in table]
    if hidden:
        lines.append(f"({hidden} more cells: pytest -v shows all; the JSON has every field)")
    return lines


def overhead_line(wall_s: float, timed_s: float, cells: int) -> str:
    """``62 cells in 118 s: 64 s timed rounds, harness overhead 84% (build, warm-up, checks, ...)``."""
    overhead = (wall_s - timed_s) / timed_s if timed_s > 0 else float("nan")
    return (f"{cells} cells in {wall_s:.0f} s: {timed_s:.0f} s in timed rounds, harness overhead "
            f"{overhead:.0%} of that (imports, model builds, conversions, warm-up, FLOPs, correctness, probe)")


def is_contended(median_load: float, threads: float) -> bool:
    """Cells ran on a busy machine: the median 1-minute load exceeded the threads they used + 1."""
    return median_load > threads + 1


def contention_line(loads: Iterable[float | None], threads: int | None, cores: int) -> str | None:
    """A warning when the median 1-minute load while cells ran exceeded the threads the cells use
    plus one: the timings then measure the other work as much as the model."""
    values = [v for v in loads if v is not None]
    if not values:
        return None
    median = statistics.median(values)
    if not is_contended(median, threads or cores):
        return None
    return (f"warning: the machine was busy while the cells ran (median load {median:.1f}, {threads or cores} "
            f"thread(s) on {cores} core(s)): timings are contended; compare ratios within this run, not numbers "
            "across runs (vbench doctor)")
