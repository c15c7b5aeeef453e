"""The vbench state of one pytest session: the resolved settings, the expanded cells, the runner, and
what the run summary and the saved JSON report (skipped and deselected cells, failures by kind). Kept in
``config.stash``; :func:`session_of` is how the plugin, the gate and xdist reach it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

from vbench.profiles import Cell, expand_cells, get_profile, load_matrix
from vbench.settings import RunSettings

__all__ = ["VBenchSession", "session_of", "SESSION_KEY"]

@dataclass(eq=False)  # hashable: registered as a plugin for its report hook
class VBenchSession:
    """Per-pytest-session state: settings, the expanded cells, the runner and skipped cells."""

    settings: RunSettings
    cells: list[Cell] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False  # Ctrl-C: the saved run is marked incomplete and never used as a baseline
    machine: dict[str, Any] | None = None  # vbench's machine_info, read once before the first cell
    deselected: list[str] = field(default_factory=list)  # node ids of cells -k / -m left out
    started: float | None = None  # time.monotonic() at session start, for the run summary
    failed: dict[str, int] = field(default_factory=lambda: {"bad_input": 0, "other": 0})  # failed cells, by kind
    _runner: Any = None

    @property
    def runner(self):
        if self._runner is None:
            from vbench.runner import CellRunner

            self._runner = CellRunner(self.settings)
        return self._runner

    def expand(self) -> list[Cell]:
        """Expand the profile or matrix file with the command-line overrides (validates every name)."""
        import vbench  # noqa: F401 - fills the registries (optimizations, LoRA, training)
        from vbench.checkpoint import check_run_weights
        from vbench.models import expand_model_patterns, resolve_model
        from vbench.optimizations.plan import list_optimizations, resolve_plan

        s = self.settings
        profile = load_matrix(s.matrix) if s.matrix else get_profile(s.profile)
        cells = expand_cells(
            profile,
            s.overrides,
            all_optimizations=list_optimizations(),
            expand_models=expand_model_patterns,
            default_img_size=lambda m: resolve_model(m).default_img_size,
        )
        for name in dict.fromkeys(c.optimization for c in cells):
            resolve_plan(name)
        check_run_weights(s.weights, s.weights_for, cells, s.seed)
        self.cells = cells
        return cells

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A hook (the session is registered as a plugin): runs where reports arrive, the controller under
        xdist, so the counts cover every worker."""
        if report.failed:
            bad_input = any(key == "vbench_bad_input" for key, _ in report.user_properties)
            self.failed["bad_input" if bad_input else "other"] += 1

    def record_skip(self, cell: Cell, reason: str) -> None:
        self.skipped.append({"id": cell.id, **asdict(cell), "reason": reason})

    def record_skipped_item(self, cell_id: str, reason: str) -> None:
        """A parametrized vbench cell skipped by its own test function (not through ``vb_measure``)."""
        if not any(entry["id"] == cell_id for entry in self.skipped):
            self.skipped.append({"id": cell_id, "reason": reason})


SESSION_KEY = pytest.StashKey[VBenchSession]()


def session_of(config: pytest.Config) -> VBenchSession:
    """The vbench session of ``config`` (created in pytest_configure)."""
    return config.stash[SESSION_KEY]
