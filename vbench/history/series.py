"""Stored sessions as a history: ordered by commit time, one hardware key, and per cell and metric
the series of session values.

Each session contributes the gate's own value per cell and metric (:func:`vbench.compare.verdicts.gate_metrics`,
``Metric.value``: the median of its rounds, the median ``norm_time`` ratio, its peak RSS, its cold
start), so a history point is exactly what the gate judges. Files are read through
:func:`vbench.compare.runs.load_run`; nothing here parses JSON.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vbench.compare.runs import Run, expand_json_paths, load_run
from vbench.compare.verdicts import Metric, gate_metrics
from vbench.errors import VBenchError

__all__ = ["trend_metrics", "Session", "Series", "History", "find_sessions", "load_sessions", "build_history", "cell_filter"]

# Judged metrics only: gmacs and params are equalities ("model changed"), not trends.
def trend_metrics() -> tuple[Metric, ...]:
    """The gate's judged metrics whose values move (equality metrics left out)."""
    return tuple(m for m in gate_metrics() if not m.equal)


@dataclass(frozen=True)
class Session:
    """One stored session in the history: its run, commit id and the time it is ordered by."""

    run: Run
    commit: str | None  # None: no git info in the file
    when: datetime | None  # commit time, else the time the session ran
    has_git: bool

    @property
    def label(self) -> str:
        """The commit's short id, else the file's stem."""
        return self.commit[:10] if self.commit else Path(self.run.source).stem

    @property
    def source(self) -> str:
        return self.run.source


@dataclass
class Series:
    """One cell's values of one metric, one per session of the history (None where the session lacks
    the cell or the value, e.g. a schema from before the metric existed)."""

    fullname: str
    cell: str  # display name: mode and cell id
    label: str  # the cell id, what tolerances' fnmatch patterns match
    metric: Metric
    values: list[float | None]

    def present(self) -> list[tuple[int, float]]:
        """(session index, value) of the sessions that have a positive value."""
        return [(i, v) for i, v in enumerate(self.values) if v is not None and v > 0]


@dataclass
class History:
    """The sessions of one hardware key, oldest first, the series per cell and metric, and one note
    per thing the reader should know (sessions left out, ordering without git info)."""

    hardware_key: str | None
    sessions: list[Session]
    series: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _session(run: Run) -> Session:
    info = run.commit_info
    commit = info.get("id") if isinstance(info.get("id"), str) and info.get("id") not in ("unversioned", "unknown") else None
    commit_time = _parse_time(info.get("time")) if commit else None
    return Session(run, commit, commit_time or _parse_time(run.datetime), commit_time is not None)


def find_sessions(targets: Sequence[str | Path]) -> tuple[list[Path], list[str]]:
    """The JSON files named by ``targets`` (files, or storage folders searched recursively), and a note
    for a folder that holds none. Raises :class:`VBenchError` for a target that does not exist."""
    files, empty, missing = expand_json_paths(targets)
    if missing:
        raise VBenchError(f"{missing[0]} does not exist (give stored sessions: a storage folder or JSON files)")
    return files, [f"{path} holds no JSON sessions" for path in empty]


def load_sessions(files: Sequence[Path], named: Iterable[Path] = ()) -> tuple[list[Run], list[str]]:
    """Read ``files`` as runs. A bad file found in a folder is skipped with a note; a bad file named
    in ``named`` (given explicitly) is an error. Interrupted sessions are left out with a note."""
    named = {Path(p) for p in named}
    runs, notes = [], []
    for path in files:
        try:
            run = load_run(path, require_samples=False)
        except VBenchError as exc:
            if path in named:
                raise
            notes.append(f"session skipped: {exc}")
            continue
        if run.complete is False:
            notes.append(f"session skipped: {path.name} was interrupted before its end")
            continue
        runs.append(run)
    return runs, notes


def _pick_key(sessions: list[Session], hardware: str | None) -> tuple[str | None, list[str]]:
    """The hardware key to show: ``hardware``, else the newest session's; a note when others exist."""
    counts = Counter(s.run.hardware_key for s in sessions)
    if hardware is not None and hardware not in counts:
        known = ", ".join(f"{k} ({n})" for k, n in counts.items())
        raise VBenchError(f"--hardware {hardware}: no session has that hardware key; the sessions have {known}")
    key = hardware if hardware is not None else sessions[-1].run.hardware_key
    others = {k: n for k, n in counts.items() if k != key}
    notes = []
    if others:
        listed = ", ".join(f"{k or 'unknown'} ({n})" for k, n in others.items())
        notes.append(f"hardware key {key or 'unknown'} ({counts[key]} sessions) shown{'' if hardware else ', the newest'}; "
                     f"other keys left out, never mixed: {listed} (--hardware KEY to show one)")
    return key, notes


def cell_filter(expression: str | None) -> Callable[[str], bool]:
    """A predicate on cell names for ``-k`` like pytest's: substrings (case-insensitive) joined by
    ``and``, ``or``, ``not`` and parentheses; everything matches without an expression."""
    if not expression:
        return lambda name: True
    from _pytest.mark.expression import Expression  # pytest's own -k grammar, not a copy of it

    try:
        compiled = Expression.compile(expression)
    except Exception as exc:  # pytest raises its ParseError, whose message says where
        raise VBenchError(f"-k {expression!r}: {exc}") from None

    def matches(name: str) -> bool:
        return compiled.evaluate(lambda word, **_: word.lower() in name.lower())

    return matches


def build_history(runs: Sequence[Run], *, hardware: str | None = None, keyword: str | None = None,
                  since: datetime | None = None, metrics: Sequence[Metric] | None = None) -> History:
    """Order ``runs`` by commit time (sessions without git info by the time they ran), keep one
    hardware key, and build the series of every cell (matched by pytest-benchmark fullname) and
    metric (``metrics``: :func:`trend_metrics` unless given). ``keyword`` filters cells like pytest's
    ``-k``; ``since`` drops older sessions.

    Raises :class:`VBenchError` when no session is left.
    """
    metrics = trend_metrics() if metrics is None else metrics
    if not runs:
        raise VBenchError("no stored sessions to build a history from")
    sessions = sorted((_session(r) for r in runs),
                      key=lambda s: (s.when or datetime.min.replace(tzinfo=timezone.utc), _parse_time(s.run.datetime)
                                     or datetime.min.replace(tzinfo=timezone.utc), s.source))
    key, notes = _pick_key(sessions, hardware)
    sessions = [s for s in sessions if s.run.hardware_key == key]
    if since is not None:
        before = len(sessions)
        sessions = [s for s in sessions if s.when is not None and s.when >= since]
        if before > len(sessions):
            notes.append(f"{before - len(sessions)} session(s) before {since.date()} left out (--since)")
        if not sessions:
            raise VBenchError(f"no session of hardware key {key or 'unknown'} since {since.isoformat()}")
    without_git = sum(not s.has_git for s in sessions)
    if without_git:
        notes.append(f"{without_git} of {len(sessions)} session(s) have no git info (commit time): placed by the time "
                     "they ran" + ("; commits unknown" if without_git == len(sessions) else ""))
    history = History(key, sessions, notes=notes)
    keep = cell_filter(keyword)
    cells: dict[str, tuple[str, str]] = {}
    for s in sessions:
        for name, record in s.run.cells.items():
            if name not in cells and (keep(record.display) or keep(name)):
                cells[name] = (record.display, record.label)
    if keyword and not cells:
        raise VBenchError(f"-k {keyword!r} matches no cell of the {len(sessions)} session(s)")
    for name, (display, label) in cells.items():
        for metric in metrics:
            values = [metric.value(s.run.cells[name]) if name in s.run.cells else None for s in sessions]
            if any(v is not None for v in values):
                history.series.append(Series(name, display, label, metric, values))
    for metric in {x.metric.name: x.metric for x in history.series}.values():
        # A session that has a cell but not this metric's value: most often a file from before the
        # metric was recorded (an older schema); the series has a gap there.
        lacking = Counter(s.run.schema_version for s in sessions
                          if any(name in s.run.cells and metric.value(s.run.cells[name]) is None for name in cells))
        if lacking:
            versions = ", ".join(f"schema {v if v is not None else 'unknown'}" for v in sorted(lacking, key=str))
            notes.append(f"{metric.name}: {sum(lacking.values())} session(s) lack it for some cells ({versions}; "
                         "recorded before the metric existed?): gaps in those series")
    return history
