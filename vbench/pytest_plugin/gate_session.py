"""The gate's state for one pytest session: the stored sessions chosen at its start, the in-process
relative re-measure of each cell right after it ran, the fresh-process confirmation of suspects, and
the report written at its end (the hooks in :mod:`vbench.pytest_plugin.gate` only delegate here)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vbench.compare.io import append_text, atomic_write_text
from vbench.compare.options import GateSettings
from vbench.compare.render import render_json, render_markdown
from vbench.compare.confirm import confirm_suspects
from vbench.compare.engine import compare_sessions
from vbench.compare.report import Report, suspect_cells
from vbench.compare.runs import SAMPLE_KEYS, SAMPLE_SOURCES, Run, load_run, run_from_json
from vbench.errors import VBenchError
from vbench.pytest_plugin.session import session_of

__all__ = ["GateSession", "SPARE_SESSIONS", "HISTORY_SESSIONS", "MAX_TERMINAL_ROWS"]

MAX_TERMINAL_ROWS = 60
SPARE_SESSIONS = 2  # older stored sessions read too, to stand in for whole-session outliers
# Stored sessions read as the history that places each cell's baseline after its last step (a step
# needs at least two sessions on each side, and its permutation test more to reach p < 0.01).
HISTORY_SESSIONS = 20


@dataclass
class GateSession:
    """Gate state of one pytest session. The baseline sessions are chosen at the start (so a bad
    one fails before any cell runs) but only read after the last cell: holding them in memory
    while cells run would raise every cell's peak RSS."""

    settings: GateSettings
    hardware_key: str
    storage: str
    saving: bool
    compare_requested: bool
    baseline_paths: list[Path] = field(default_factory=list)
    history_paths: list[Path] = field(default_factory=list)  # the newest stored sessions, for the steps
    windows: dict = field(default_factory=dict)  # (cell fullname, metric) -> sessions after its last step
    notes: list[str] = field(default_factory=list)
    report: Report | None = None
    interrupted: bool = False  # Ctrl-C during the fresh-session confirmation
    confirm_against: str = ""  # the commit suspects are confirmed against in A/B pairs ("" : none)
    repo: Path | None = None  # the git checkout that commit is in

    @property
    def has_baseline(self) -> bool:
        return bool(self.baseline_paths)

    # -- per cell --------------------------------------------------------------------------------

    def after_cell(self, runner, cell, bench) -> None:
        """With --vb-relative: the cell's time over its eager reference, timed in interleaved pairs (the
        runner's public :class:`~vbench.workloads.Step` of the cell: its call and its eager call)."""
        if not self.settings.relative or cell.optimization == "eager":
            return
        try:
            step = runner.last_step(cell)
        except RuntimeError:
            return  # measured by something other than the runner: nothing to re-measure with
        if step.eager_call is None:
            return
        # Re-measure with the clock the benchmark's rounds were taken with (a marker or
        # --benchmark-timer may have replaced vbench's default); pytest-benchmark keeps it in _timer.
        timer, extra = getattr(bench, "_timer", None) or runner.timer, bench.extra_info
        turns = getattr(runner, "turns", None)  # vbench ab: what is re-measured takes a turn of its own
        if turns is not None:
            turns.before_round(f"{cell.id} relative")
        try:
            with step.context():
                extra[SAMPLE_KEYS["rel_time"]] = _interleaved_ratios(step.call, step.eager_call,
                                                                     self.settings.relative_pairs, timer)
                extra["rel_time"] = float(_median(extra[SAMPLE_KEYS["rel_time"]]))
        finally:
            if turns is not None:
                turns.release()

    # -- session end -----------------------------------------------------------------------------

    def build_report(self, config: pytest.Config) -> Report | None:
        """Compare this session's cells with the baseline sessions (once); suspect cells are
        re-measured, in A/B pairs against the baseline's commit where it can be checked out, else in
        fresh sessions, and judged on those (:mod:`vbench.compare.confirm`). None without a baseline."""
        if self.report is not None or not self.baseline_paths:
            return self.report
        baselines = self._load_baselines()
        if not baselines:
            return None
        self.windows = self._history_windows(baselines)
        bs = config._benchmarksession
        kept = [b for b in bs.benchmarks if not b.has_error]
        why_not = self._why_no_confirmation(config)
        if why_not is not None:
            report = self._compare(config, kept, baselines, 0)
            if suspect_cells(report):
                report.notes.append(why_not)
            self.report = report
            return report
        self.confirm_against, self.repo, why_not_ab = self._ab_revision(config, baselines)
        report = self._compare(config, kept, baselines, self._planned())
        if self.confirm_against:
            paired, why_not_ab = self._confirm_in_pairs(config, kept, baselines, report)
            if paired is not None:
                self.report = paired
                return paired
            self.confirm_against = ""  # no pair ran: fresh sessions instead, judged at the full level
        if why_not_ab and suspect_cells(report, shifted_too=True):
            self.notes.append(why_not_ab)
            report = self._compare(config, kept, baselines, self._planned())
        outcome = confirm_suspects(
            report, lambda: self._compare(config, kept, baselines, self._planned()),  # judged on the fresh sessions
            lambda names, count: self._fresh_confirmation(config, kept, names, count),
            self.settings.confirm_sessions)
        self.report, self.interrupted = outcome.report, outcome.interrupted
        return self.report

    def _planned(self) -> int:
        """Fresh sessions, or A/B pairs (two processes each), a suspect gets at most."""
        return self.settings.confirm_sessions

    def _confirm_in_pairs(self, config: pytest.Config, kept, baselines: list[Run],
                          report: Report) -> tuple[Report | None, str | None]:
        """Confirm the suspects in A/B pairs against ``self.confirm_against``: the report judged on the
        pairs, or None and why when no pair could run (the worktree, or the first pair, failed)."""
        from vbench.compare.ab import worktree

        if not suspect_cells(report, shifted_too=True):
            return report, None
        judge = lambda: self._compare(config, kept, baselines, self._planned())  # noqa: E731
        try:
            with worktree(self.repo, self.confirm_against) as tree:
                outcome = confirm_suspects(
                    report, judge, lambda names, count: self._pair_confirmation(config, kept, names, count, tree),
                    2 * self._planned(), shifted_too=True, decided=lambda names: _mark_decided(kept, names))
        except VBenchError as exc:
            return None, f"A/B confirmation against {self.confirm_against[:10]} unavailable: {exc}"
        if outcome.sessions or outcome.interrupted or not outcome.stopped:
            self.interrupted = outcome.interrupted
            return outcome.report, None
        return None, outcome.stopped

    def _ab_revision(self, config: pytest.Config, baselines: list[Run]) -> tuple[str, Path | None, str | None]:
        """The commit A/B pairs confirm against (the newest baseline session's), the git checkout it is
        in, and why there is none ("" and None when the option is off)."""
        from vbench.compare.ab import git

        if not self.settings.confirm_ab or not self.settings.confirm_sessions:
            return "", None, None
        newest = baselines[-1]
        sha = str(newest.commit_info.get("id") or "")
        why = None
        if not re.fullmatch(r"[0-9a-f]{7,64}", sha):  # pytest-benchmark writes "unversioned" outside git
            why = f"the newest baseline session ({newest.label}) records no commit"
        elif newest.commit_info.get("dirty"):
            why = (f"the newest baseline session ({newest.label}) was measured with uncommitted changes: "
                   f"commit {sha[:10]} is not what it measured")
        else:
            try:
                repo = Path(git(Path(config.invocation_params.dir), "rev-parse", "--show-toplevel"))
                git(repo, "cat-file", "-e", f"{sha}^{{commit}}")
                return sha, repo, None
            except VBenchError:
                why = f"commit {sha[:10]} of the newest baseline session is not in this git checkout (CI: fetch-depth 0)"
        return "", None, (f"A/B confirmation unavailable: {why}; suspects re-measured in fresh sessions judged "
                          "against the stored ones")

    def _load_baselines(self) -> list[Run]:
        runs = []
        for path in self.baseline_paths:
            try:
                runs.append(load_run(path))
            except VBenchError as exc:  # changed since the start: skip it, say so
                self.notes.append(f"baseline session skipped: {exc}")
        return runs

    def _history_windows(self, baselines: list[Run]) -> dict:
        """Per cell and metric, the stored sessions after its last accepted step (docs/gate.md), from
        the newest stored sessions; unreadable ones were named by the baseline selection already."""
        from vbench.history.trends import gate_windows

        loaded = {b.source: b for b in baselines}
        runs = []
        for path in self.history_paths:
            if str(path) in loaded:
                runs.append(loaded[str(path)])
                continue
            try:
                runs.append(load_run(path))
            except VBenchError:
                continue
        windows = gate_windows(runs, self.hardware_key, self.settings.policy.tolerance)
        self.notes += windows.notes
        return windows.sessions

    def _compare(self, config: pytest.Config, benchmarks, baselines: list[Run], planned: int) -> Report:
        data = {
            "machine_info": {"hardware_key": self.hardware_key},
            "benchmarks": [b.as_dict(include_data=True) for b in benchmarks],
            "vbench": {"skipped": _skipped(config), "deselected": _deselected(config),
                       "confirm_against": self.confirm_against},
        }
        current = run_from_json(data, "this run", require_samples=False)
        report = compare_sessions(baselines, current, self.settings.policy, allow_foreign=self.settings.allow_foreign,
                                  confirm_planned=planned, keep=self.settings.baseline_runs, windows=self.windows)
        report.notes[:0] = self.notes
        return report

    @staticmethod
    def _why_no_confirmation(config: pytest.Config) -> str | None:
        """Why fresh sessions cannot confirm in this run (None when they can)."""
        if config.getoption("numprocesses", None):
            return "fresh-session confirmation skipped under xdist (workers time differently): judged on this session"
        if session_of(config).settings.interleave:
            return "fresh-session confirmation skipped while taking turns (vbench ab)"
        return None

    def _fresh_confirmation(self, config: pytest.Config, benchmarks, names: list[str], count: int) -> tuple[int, str | None]:
        """Re-measure ``names`` in up to ``count`` fresh processes, one after another; each one's
        samples go straight into its cells' ``extra_info.gate_confirm.sessions`` (so the saved JSON
        is judged the same later, and a child that fails later loses nothing). Returns how many ran
        and, when one failed, why."""
        from vbench.pytest_plugin.fresh import remeasure

        by_name = {b.fullname: b for b in benchmarks}
        for ran in range(count):
            try:
                fresh = remeasure(config, names)
            except VBenchError as exc:
                return ran, f"fresh-session confirmation stopped after {ran} more session(s): {exc}"
            for name in names:
                cell, bench = fresh.cells.get(name), by_name.get(name)
                if cell is not None and bench is not None:
                    session = _samples(cell)
                    session["load_avg_1m"] = cell.extra.get("load_avg_1m")
                    confirm = bench.extra_info.setdefault("gate_confirm", {"sessions": []})
                    confirm["sessions"].append(session)
                    confirm["planned"] = self.settings.confirm_sessions
        return count, None

    def _pair_confirmation(self, config: pytest.Config, benchmarks, names: list[str], count: int,
                           tree: Path) -> tuple[int, str | None]:
        """Re-measure ``names`` in ``count // 2`` A/B pairs (baseline commit in ``tree``, this checkout);
        each pair's samples go into its cells' ``extra_info.gate_confirm.pairs`` (so the saved JSON is
        judged the same later). Returns the sessions that ran (two per pair) and, when a pair failed, why."""
        from vbench.pytest_plugin.fresh import remeasure_pair

        by_name = {b.fullname: b for b in benchmarks}
        for ran in range(max(count // 2, 1)):
            try:
                base, current = remeasure_pair(config, names, self.repo, tree)
            except VBenchError as exc:
                return 2 * ran, (f"A/B confirmation against {self.confirm_against[:10]} stopped after {ran} more "
                                 f"pair(s): {exc}")
            for name in names:
                a, b, bench = base.cells.get(name), current.cells.get(name), by_name.get(name)
                if a is not None and b is not None and bench is not None:
                    confirm = bench.extra_info.setdefault("gate_confirm", {})
                    confirm.update(against=self.confirm_against, planned=self._planned())
                    confirm.setdefault("pairs", []).append({"base": _samples(a), "current": _samples(b)})
        return 2 * max(count // 2, 1), None

    def no_baseline_line(self) -> str:
        saved = ("this run was saved as the first baseline" if self.saving
                 else "run with --benchmark-autosave to save this run as the first baseline")
        notes = "".join(f"; {n}" for n in self.notes)
        return (f"vbench gate: no baseline for hardware key {self.hardware_key} in {self.storage}{notes}; "
                f"nothing compared, passing; {saved}")

    def write_outputs(self, report: Report | None) -> None:
        md = render_markdown(report) if report else f"### vbench gate\n\n{self.no_baseline_line()}\n"
        if self.settings.verdict_md:
            atomic_write_text(self.settings.verdict_md, md)
        if self.settings.verdict_json:
            atomic_write_text(self.settings.verdict_json,
                              render_json(report) if report else '{"baseline": null, "rows": []}\n')
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary and (self.settings.verdict_md or self.compare_requested):
            append_text(summary, md)


def _mark_decided(benchmarks, names: list[str]) -> None:
    """Record in each of ``names`` how many A/B pairs it had when the gate stopped re-measuring it
    as decided (``gate_confirm.decided``, read by the engine: see CellRecord.confirm_decided)."""
    for bench in benchmarks:
        confirm = bench.extra_info.get("gate_confirm") if bench.fullname in names else None
        if isinstance(confirm, dict):
            confirm["decided"] = len(confirm.get("pairs", []))


def _samples(cell) -> dict:
    """A re-measured cell's raw samples, by their key in extra_info."""
    return {SAMPLE_KEYS[source]: samples for source in SAMPLE_SOURCES if (samples := cell.samples_of(source))}


def _median(values):
    import statistics

    return statistics.median(values)


def _interleaved_ratios(cell_step, eager_step, pairs: int, timer) -> list[float]:
    """``pairs`` ratios cell/eager, each from two back-to-back calls; the order alternates so
    neither side always runs second (warm caches) and drift hits both equally."""
    from vbench.timing import time_call

    eager_step(), cell_step()
    out = []
    for i in range(pairs):
        if i % 2:
            t_cell, t_eager = time_call(cell_step, timer), time_call(eager_step, timer)
        else:
            t_eager, t_cell = time_call(eager_step, timer), time_call(cell_step, timer)
        out.append(t_cell / t_eager)
    return out


def _deselected(config: pytest.Config) -> list[str]:
    return list(session_of(config).deselected)


def _skipped(config: pytest.Config) -> list[dict]:
    return list(session_of(config).skipped)
