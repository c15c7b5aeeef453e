"""Whole-run comparison: every cell of both runs judged, new and missing cells listed, exit status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vbench.compare.policy import GatePolicy
from vbench.compare.runs import CellRecord, Run, check_hardware
from vbench.compare.verdicts import CHECKS, MISSING, NEW, REGRESSED, SAMPLED_CHECKS, VERDICTS, Row, judge_cell

__all__ = ["Report", "compare_runs", "match_cell", "regressed_sampled_cells"]


@dataclass
class Report:
    """The verdicts of one comparison. ``exit_status`` is 1 when any row regressed, else 0."""

    baseline: str
    current: str
    baseline_key: str | None
    current_key: str | None
    cross_hardware: bool = False
    rows: list[Row] = field(default_factory=list)
    policy: GatePolicy | None = None
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows per verdict, in table order."""
        return {v: sum(r.verdict == v for r in self.rows) for v in VERDICTS}

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == REGRESSED]

    @property
    def exit_status(self) -> int:
        return 1 if self.regressions else 0

    def summary(self) -> str:
        """One line: ``2 regressed, 1 improved, 40 unchanged, 1 new, 0 missing, 0 model changed``."""
        counts = self.counts()
        text = ", ".join(f"{n} {v}" for v, n in counts.items())
        return text + (" (cross-hardware comparison)" if self.cross_hardware else "")

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline,
            "current": self.current,
            "baseline_hardware_key": self.baseline_key,
            "current_hardware_key": self.current_key,
            "cross_hardware": self.cross_hardware,
            "tolerances": dict(self.policy.tolerances) if self.policy else None,
            "alpha": self.policy.alpha if self.policy else None,
            "counts": self.counts(),
            "exit_status": self.exit_status,
            "notes": self.notes,
            "rows": [r.as_dict() for r in self.rows],
        }


def match_cell(baseline: Run, cell: CellRecord) -> CellRecord | None:
    """The baseline's record of ``cell``: same pytest-benchmark fullname, else the same test name
    (``test_inference[resnet18-eager-bs8-64px]``) when exactly one baseline cell has it, so a run made
    from another rootdir or after moving the bench file still matches."""
    if cell.fullname in baseline.cells:
        return baseline.cells[cell.fullname]
    same = [c for c in baseline.cells.values() if c.name == cell.name]
    return same[0] if len(same) == 1 else None


def compare_runs(
    baseline: Run,
    current: Run,
    policy: GatePolicy | None = None,
    *,
    allow_foreign: bool = False,
    checks=CHECKS,
) -> Report:
    """Judge every cell of ``current`` against ``baseline``.

    Raises :class:`~vbench.compare.runs.ForeignBaselineError` when the hardware keys differ and
    ``allow_foreign`` is false; with it, every row is marked cross-hardware.
    """
    policy = policy or GatePolicy()
    cross = check_hardware(baseline, current.hardware_key, allow_foreign=allow_foreign)
    report = Report(baseline.source, current.source, baseline.hardware_key, current.hardware_key, cross, policy=policy)
    matched: set[str] = set()
    for cur in current.cells.values():
        base = match_cell(baseline, cur)
        if base is None:
            report.rows.append(Row(cur.label, "-", NEW, note="not in the baseline"))
        else:
            matched.add(base.fullname)
            report.rows.extend(judge_cell(base, cur, policy, checks))
    for name, base in baseline.cells.items():
        if name not in matched:
            reason = current.skipped.get(base.label)
            note = f"skipped in this run: {reason}" if reason else "in the baseline, not in this run"
            report.rows.append(Row(base.label, "-", MISSING, note=note))
    if cross:
        for row in report.rows:
            row.note = "cross-hardware" + (f"; {row.note}" if row.note else "")
    return report


def regressed_sampled_cells(report: Report) -> list[str]:
    """Fullnames of the cells with a regressed time or ratio metric (what a fresh process re-measures)."""
    sampled = {c.metric for c in SAMPLED_CHECKS}
    return sorted({r.fullname for r in report.regressions if r.metric in sampled and r.fullname})
