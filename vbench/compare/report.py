"""The outcome of a comparison: its rows, counts, exit status and what the verdicts are worth.

Judging lives in :mod:`vbench.compare.engine`; rendering in :mod:`vbench.compare.render`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vbench.compare.policy import GatePolicy
from vbench.compare.runs import CellRecord, Run
from vbench.compare.verdicts import INCONCLUSIVE, REGRESSED, VERDICTS, Row

__all__ = ["Report", "match_cell", "suspect_cells"]


@dataclass
class Report:
    """The verdicts of one comparison. ``exit_status`` is 1 when any row regressed (or, with
    ``policy.fail_on_inconclusive``, is inconclusive), else 0."""

    baseline: str
    current: str
    baseline_key: str | None
    current_key: str | None
    cross_hardware: bool = False
    rows: list[Row] = field(default_factory=list)
    policy: GatePolicy | None = None
    notes: list[str] = field(default_factory=list)
    sessions: int = 0  # baseline sessions (or session pairs) judged against
    checks: int = 0  # gated checks: the m of the run-level control
    spreads: dict[str, float] = field(default_factory=dict)  # metric -> pooled sigma (log scale)
    shifted: set[str] = field(default_factory=set)  # metrics this whole session moved in (shifts.py)
    windowed: set[tuple[str, str]] = field(default_factory=set)  # (fullname, metric) judged after a history step
    # With A/B confirmation planned (split): half of alpha over the ``checks`` against stored sessions,
    # half over the ``pair_checks`` judged on A/B pairs against the baseline's commit.
    split: bool = False
    pair_checks: int = 0
    pair_judged: set[tuple[str, str]] = field(default_factory=set)  # (fullname, metric) judged on A/B pairs
    baseline_files: list[str] = field(default_factory=list)  # the baseline sessions judged against

    def counts(self) -> dict[str, int]:
        """Rows per verdict, in table order."""
        return {v: sum(r.verdict == v for r in self.rows) for v in VERDICTS}

    @property
    def regressions(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == REGRESSED]

    @property
    def inconclusive(self) -> list[Row]:
        return [r for r in self.rows if r.verdict == INCONCLUSIVE]

    @property
    def level(self) -> float | None:
        """Each check's level against stored sessions (alpha / m; alpha / 2 / m when split)."""
        return self._share / self.checks if self.policy and self.checks else None

    @property
    def pair_level(self) -> float | None:
        """Each A/B pair check's level (alpha / 2 / its count), when there are any."""
        return self._share / self.pair_checks if self.policy and self.split and self.pair_checks else None

    @property
    def _share(self) -> float:
        return self.policy.alpha / 2 if self.split else self.policy.alpha

    @property
    def exit_status(self) -> int:
        failing = bool(self.regressions) or bool(self.policy and self.policy.fail_on_inconclusive and self.inconclusive)
        return 1 if failing else 0

    def control_line(self) -> str:
        """What the verdicts are worth: checks, run-level level, sessions."""
        if not self.policy:
            return ""
        level = f"{self.level:.2g}" if self.level else "-"
        if self.split:
            pairs = (f"{self.pair_checks} on A/B pairs at {self.pair_level:.2g} each" if self.pair_checks
                     else "none on A/B pairs")
            return (f"{self.checks} gated checks; chance that an unchanged run shows any regression <= "
                    f"{self.policy.alpha * 100:.3g}% (Bonferroni, half against stored sessions: each check at {level}; "
                    f"half for suspects confirmed against the baseline's commit: {pairs}); "
                    f"{self.sessions} baseline session(s)")
        return (f"{self.checks} gated checks; chance that an unchanged run shows any regression <= "
                f"{self.policy.alpha * 100:.3g}% (Bonferroni: each check at {level}); {self.sessions} baseline session(s)")

    def summary(self) -> str:
        """One line: ``0 regressed, 0 inconclusive, 1 improved, 40 unchanged, ...``."""
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
            "checks": self.checks,
            "per_check_level": self.level,
            "pair_checks": self.pair_checks,
            "per_pair_check_level": self.pair_level,
            "correction": "bonferroni",
            "baseline_sessions": self.sessions,
            "baseline_files": self.baseline_files,
            "whole_session_shifts": sorted(self.shifted),
            "spreads": self.spreads,
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


def suspect_cells(report: Report, *, shifted_too: bool = False) -> list[str]:
    """Fullnames of cells whose gated time looks worse beyond its tolerance and beyond one check's
    :data:`~vbench.compare.policy.SUSPECT_LEVEL`: what fresh sessions re-measure (not in a metric the
    whole session moved in: fresh sessions cannot change that verdict; A/B pairs, ``shifted_too``,
    can, since both revisions run in the same minutes)."""
    return sorted({r.fullname for r in report.rows
                   if r.suspect and r.fullname and (shifted_too or r.metric not in report.shifted)})
