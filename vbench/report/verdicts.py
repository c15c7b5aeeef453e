"""Baseline vs current in the report: which runs are which, judged by the gate's engine.

The report has no verdict rule of its own: per hardware key, the newest run is judged against the
runs before it as baseline sessions by :func:`vbench.compare.compare_sessions`, with the gate's
policy for that run's device, so the report and ``vbench compare`` on the same files give one answer
per cell and metric. (The gate inside ``pytest bench`` also places each cell's baseline after its last
accepted step in the stored history, docs/gate.md; the report judges the runs it is given.) Runs on
different hardware are never compared with each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from vbench.compare import GatePolicy, Report, Run, compare_sessions
from vbench.compare.options import GateSettings
from vbench.errors import VBenchError
from vbench.report.load import CELL_KEY, hardware_key_of

__all__ = ["RunSplit", "VERDICT_COLUMNS", "run_order", "split_runs", "report_policy", "judge", "verdict_rows"]

# Raw gate rows (vbench.compare.verdicts.Row) plus where they belong; verdicts.csv has every one.
VERDICT_COLUMNS = (
    "hardware_key", *CELL_KEY, "cell", "metric", "verdict", "baseline", "current", "unit", "change", "tolerance",
    "bound", "can_catch", "p_value", "sessions", "confirm", "note", "fullname", "current_run", "baseline_runs",
)


@dataclass
class RunSplit:
    """One hardware key's runs: the current one and the baseline sessions it is judged against (oldest first)."""

    hardware_key: str
    current: Run
    baselines: list[Run] = field(default_factory=list)


def run_order(runs: Sequence[Run]) -> list[Run]:
    """Runs in time order (pytest-benchmark's ``datetime``), ties broken by the order they were given."""
    return [run for _, run in sorted(enumerate(runs), key=lambda pair: (pair[1].datetime, pair[0]))]


def split_runs(runs: Sequence[Run], baseline: str | None = None) -> list[RunSplit]:
    """Per hardware key, the current run and its baselines.

    Current: the newest run of the key (other than ``baseline``). Baselines: the run labelled
    ``baseline`` when given (only on its own key), else every earlier run of the key, as sessions.
    Raises :class:`VBenchError` when no run is labelled ``baseline``.
    """
    ordered = run_order(runs)
    if baseline is not None and baseline not in {r.label for r in ordered}:
        raise VBenchError(f"baseline run {baseline!r} is not among the loaded runs "
                          f"({', '.join(r.label for r in ordered)})")
    keys = sorted({hardware_key_of(r) for r in ordered})
    splits = []
    for key in keys:
        same = [r for r in ordered if hardware_key_of(r) == key]
        current = next((r for r in reversed(same) if r.label != baseline), same[-1])
        if baseline is not None:
            base = [r for r in same if r.label == baseline and r is not current]
        else:
            base = same[:same.index(current)]
        splits.append(RunSplit(key, current, base))
    return splits


def _fail_on(fail_on: str | None, threshold: float | None) -> str | None:
    """``--threshold F`` is ``--fail-on time:F,relative:F`` (after any ``--fail-on``)."""
    if threshold is None:
        return fail_on
    pct = f"{threshold * 100:g}%"
    return ",".join(p for p in (fail_on, f"time:{pct},relative:{pct}") if p)


def report_policy(run: Run, fail_on: str | None = None, matrix: str | None = None,
                  threshold: float | None = None) -> GatePolicy:
    """The gate's policy for ``run``'s device (``vbench compare`` picks it the same way)."""
    device = next((c.extra.get("device") for c in run.cells.values() if c.extra.get("device")), "cpu")
    return GatePolicy.build(_fail_on(fail_on, threshold), matrix, device_type=str(device), option="--fail-on")


def judge(split: RunSplit, policy: GatePolicy) -> Report:
    """The gate's verdicts on ``split.current`` against its baselines (the newest sessions the gate
    would keep). A run without a hardware key is compared with the others that lack one, and every
    row says cross-hardware."""
    return compare_sessions(split.baselines, split.current, policy, allow_foreign=split.current.hardware_key is None,
                            keep=GateSettings.baseline_runs)


def verdict_rows(judged: Sequence[tuple[RunSplit, Report]]) -> pd.DataFrame:
    """Every gate row of every judged split, with its hardware key and the cell's key columns."""
    rows = []
    for split, report in judged:
        cells = {c.fullname: c for run in [*split.baselines, split.current] for c in run.cells.values()}
        for row in report.rows:
            extra = cells[row.fullname].extra if row.fullname in cells else {}
            rows.append({
                "hardware_key": split.hardware_key, **{k: extra.get(k) for k in CELL_KEY}, **row.as_dict(),
                "current_run": split.current.label, "baseline_runs": ",".join(b.label for b in split.baselines),
            })
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
