"""History of stored sessions: per cell and metric a series in commit order, its change points
(E-divisive means), the gate's baseline window after the last accepted one, and ``vbench bisect``.

Typical use (what ``vbench history`` does)::

    from vbench.history import history_of, write_history

    result = write_history(history_of([".benchmarks"], keyword="resnet"), "vbench-history")
    print(result.files["history.md"].read_text())
"""

from vbench.history.changepoints import ChangePoint, e_divisive, energy_statistic
from vbench.history.result import HistoryResult, history_of, write_history
from vbench.history.series import History, Series, Session, build_history
from vbench.history.trends import GATE_ALPHA, Step, Trend, Windows, baseline_windows

__all__ = [
    "ChangePoint",
    "e_divisive",
    "energy_statistic",
    "HistoryResult",
    "history_of",
    "write_history",
    "History",
    "Series",
    "Session",
    "build_history",
    "GATE_ALPHA",
    "Step",
    "Trend",
    "Windows",
    "baseline_windows",
]
