"""``vbench history`` as a library call: stored sessions in, steps per cell and metric and the three
outputs (``history.md``, ``history.json``, ``history.html``) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from vbench.compare.policy import DEFAULT_BASELINE_RUNS, GatePolicy
from vbench.compare.runs import Run
from vbench.history.changepoints import ALPHA, MIN_SIZE
from vbench.history.series import History, build_history, find_sessions, load_sessions
from vbench.history.trends import Trend, analyse
from vbench.errors import VBenchError

__all__ = ["MIN_SESSIONS", "REPORT_SESSIONS", "HistoryResult", "history_of", "history_from", "report_trends", "write_history", "cell_pngs"]

# Two segments of MIN_SIZE sessions each: fewer cannot show a step.
MIN_SESSIONS = 2 * MIN_SIZE
# `vbench report` shows trends for a storage folder with at least this many sessions of one key.
REPORT_SESSIONS = 3


@dataclass
class HistoryResult:
    """A history, its trends, how they were found, and the files written (name -> path)."""

    history: History
    trends: list[Trend]
    alpha: float = ALPHA
    min_size: int = MIN_SIZE
    baseline_runs: int = DEFAULT_BASELINE_RUNS
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)


def _device(history: History) -> str:
    for session in reversed(history.sessions):
        for cell in session.run.cells.values():
            if cell.extra.get("device"):
                return str(cell.extra["device"])
    return "cpu"


def history_of(targets: Sequence[str | Path], *, hardware: str | None = None, keyword: str | None = None,
               since: datetime | None = None, alpha: float = ALPHA, baseline_runs: int = DEFAULT_BASELINE_RUNS,
               fail_on: str | None = None, matrix: str | Path | None = None, device: str | None = None) -> HistoryResult:
    """Read the sessions in ``targets`` (storage folders or JSON files) and find the steps of every
    cell and metric of one hardware key. The gate's tolerances (``device``'s defaults, default the
    sessions' device, then ``matrix``'s gate block, then ``fail_on``) decide which steps move its
    baseline.

    Raises :class:`VBenchError` in one line for unreadable input, no session, or a single session.
    """
    files, notes = find_sessions(targets)
    runs, skipped = load_sessions(files, named=[Path(t) for t in targets if Path(t).is_file()])
    if not runs:
        raise VBenchError(f"no readable stored session in {', '.join(map(str, targets))}"
                          + (f" ({skipped[0]})" if skipped else ""))
    return history_from(runs, notes + skipped, hardware=hardware, keyword=keyword, since=since, alpha=alpha,
                        baseline_runs=baseline_runs, fail_on=fail_on, matrix=matrix, device=device)


def history_from(runs: Sequence[Run], notes: Sequence[str] = (), *, hardware: str | None = None,
                 keyword: str | None = None, since: datetime | None = None, alpha: float = ALPHA,
                 baseline_runs: int = DEFAULT_BASELINE_RUNS, fail_on: str | None = None,
                 matrix: str | Path | None = None, device: str | None = None) -> HistoryResult:
    """:func:`history_of` on sessions already read (``notes``: what reading them left out)."""
    if not 0 < alpha < 1:
        raise VBenchError(f"--alpha must be between 0 and 1, got {alpha}")
    if baseline_runs < 1:
        raise VBenchError(f"--baseline-runs must be >= 1, got {baseline_runs}")
    history = build_history(runs, hardware=hardware, keyword=keyword, since=since)
    if len(history.sessions) < 2:
        raise VBenchError(f"only one session of hardware key {history.hardware_key or 'unknown'} "
                          f"({history.sessions[0].source}): a history needs at least {MIN_SESSIONS} to show a step")
    history.notes[:0] = list(notes)
    if len(history.sessions) < MIN_SESSIONS:
        history.notes.append(f"{len(history.sessions)} sessions: a step needs at least {MIN_SIZE} on each side, "
                             "so none can be found yet")
    policy = GatePolicy.build(fail_on, matrix, device_type=device or _device(history), option="--fail-on")
    trends = analyse(history, lambda s: policy.tolerance(s.label, s.metric.category), alpha=alpha,
                     baseline_runs=baseline_runs)
    return HistoryResult(history, trends, alpha, MIN_SIZE, baseline_runs)


def report_trends(targets: Sequence[str | Path], runs: Sequence[Run]) -> HistoryResult | None:
    """The history ``vbench report`` shows as its Trends section: that of ``runs`` (read by the report
    from ``targets``) found in the storage folders among ``targets``, when they hold at least
    :data:`REPORT_SESSIONS` complete sessions of one hardware key; None otherwise (files alone are runs
    to compare, not a history)."""
    folders = [Path(t).resolve() for t in targets if Path(t).is_dir()]
    stored = [r for r in runs if r.complete is not False
              and any(folder in Path(r.source).resolve().parents for folder in folders)]
    if not stored:
        return None
    try:
        result = history_from(stored)
    except VBenchError:
        return None  # nothing the report needs; `vbench history` says why in one line
    return result if len(result.history.sessions) >= REPORT_SESSIONS else None


def cell_pngs(result: HistoryResult) -> dict[str, bytes]:
    """One PNG per cell (fullname -> bytes), a panel per metric."""
    from vbench.history.plots import cell_png

    by_cell: dict[str, list[Trend]] = {}
    for trend in result.trends:
        by_cell.setdefault(trend.series.fullname, []).append(trend)
    return {name: cell_png(trends, result.history.sessions) for name, trends in by_cell.items()}


def write_history(result: HistoryResult, out_dir: str | Path) -> HistoryResult:
    """Write ``history.md``, ``history.json`` and ``history.html`` under ``out_dir``; returns ``result``
    with ``files`` set."""
    from vbench.compare.io import atomic_write_text
    from vbench.history.render import render_html, render_json, render_markdown

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise VBenchError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    pngs = cell_pngs(result)
    result.files["history.md"] = atomic_write_text(out / "history.md", render_markdown(result))
    result.files["history.json"] = atomic_write_text(out / "history.json", render_json(result))
    result.files["history.html"] = atomic_write_text(out / "history.html", render_html(result, pngs))
    return result
