"""The regression gate inside pytest: which stored sessions to judge against, fresh sessions for
suspect cells, verdicts at the end of the session (docs/gate.md).

Registered by :mod:`vbench.plugin`. Hooks only delegate to a :class:`GateSession` kept in
``config.stash``; judging lives in :mod:`vbench.compare` (importable without pytest), and every touch
of pytest-benchmark's internals in :mod:`vbench.benchmark_adapter`:

- the storage folder is the run's ``hardware_key`` instead of OS + Python, so ``--benchmark-autosave``
  then ``--benchmark-compare`` compares an H100 run only with runs of the same GPU, CUDA and torch;
- saved runs always keep their raw per-round samples (``save_data``): the gate's statistics need them;
- its JSON writes go through a temporary file: Ctrl-C never leaves half a file, and runs saved at
  once into one folder never overwrite each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from vbench.benchmark_adapter import make_writes_atomic, storage_keyed_by
from vbench.compare.io import append_text, atomic_write_text
from vbench.compare.options import GATE_FLAGS, GATE_OPTIONS, GateSettings, resolve_gate_settings
from vbench.compare.render import render_json, render_markdown, render_text
from vbench.compare.baselines import select_baselines
from vbench.compare.engine import compare_sessions
from vbench.compare.report import Report, suspect_cells
from vbench.compare.runs import SAMPLE_KEYS, SAMPLE_SOURCES, Run, load_run, run_from_json
from vbench.errors import VBenchError

__all__ = ["GateSession", "gate_of"]

MAX_TERMINAL_ROWS = 60
CONFIRM_STEP = 2  # fresh sessions per confirmation step
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
        """Compare this session's cells with the baseline sessions (once). Suspect cells are
        re-measured in fresh sessions, two at a time while their verdict is inconclusive and
        ``confirm_sessions`` allows, and judged on those. None without a baseline."""
        if self.report is not None or not self.baseline_paths:
            return self.report
        baselines = self._load_baselines()
        if not baselines:
            return None
        self.windows = self._history_windows(baselines)
        bs = config._benchmarksession
        kept = [b for b in bs.benchmarks if not b.has_error]
        why_not = self._why_no_confirmation(config)
        planned = 0 if why_not else self.settings.confirm_sessions
        report = self._compare(config, kept, baselines, planned)
        names, done, step = suspect_cells(report), 0, CONFIRM_STEP
        if names and why_not:
            report.notes.append(why_not)
            names = []
        while names and done < self.settings.confirm_sessions:
            count = min(step, self.settings.confirm_sessions - done)
            try:
                ran, why_not = self._fresh_confirmation(config, kept, names, count)
            except KeyboardInterrupt:
                # Ctrl-C while re-measuring: the measured cells are kept and saved (pytest-benchmark
                # writes its JSON after this), judged on what was measured; the run exits 2.
                self.interrupted = True
                report.notes.append("interrupted while re-measuring suspects in fresh sessions: judged on the "
                                    "sessions measured so far")
                break
            done += ran
            if ran:
                report = self._compare(config, kept, baselines, planned)  # judged on the fresh sessions now
            if why_not:
                report.notes.append(why_not)
                break
            names = [r.fullname for r in report.inconclusive if r.fullname in names]
        if done:
            confirmed = {r.fullname for r in report.rows if r.confirm}
            report.notes.append(f"{len(confirmed)} suspect cell(s) re-measured in fresh sessions (up to {done} each; "
                                "--vb-confirm-sessions); their verdicts are judged on those sessions")
        self.report = report
        return self.report

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
            "vbench": {"skipped": _skipped(config), "deselected": _deselected(config)},
        }
        current = run_from_json(data, "this run", require_samples=False)
        report = compare_sessions(baselines, current, self.settings.policy, allow_foreign=self.settings.allow_foreign,
                                  confirm_planned=planned, keep=self.settings.baseline_runs, windows=self.windows)
        report.notes[:0] = self.notes
        return report

    @staticmethod
    def _why_no_confirmation(config: pytest.Config) -> str | None:
        """Why fresh sessions cannot confirm in this run (None when they can)."""
        from vbench.plugin import session_of

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
        from vbench.fresh import remeasure

        by_name = {b.fullname: b for b in benchmarks}
        for ran in range(count):
            try:
                fresh = remeasure(config, names)
            except VBenchError as exc:
                return ran, f"fresh-session confirmation stopped after {ran} more session(s): {exc}"
            for name in names:
                cell, bench = fresh.cells.get(name), by_name.get(name)
                if cell is not None and bench is not None:
                    session = {SAMPLE_KEYS[source]: samples for source in SAMPLE_SOURCES
                               if (samples := cell.samples_of(source))}
                    session["load_avg_1m"] = cell.extra.get("load_avg_1m")
                    bench.extra_info.setdefault("gate_confirm", {"sessions": []})["sessions"].append(session)
        return count, None

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
    from vbench.plugin import session_of

    return list(session_of(config).deselected)


def _skipped(config: pytest.Config) -> list[dict]:
    from vbench.plugin import session_of

    return list(session_of(config).skipped)


_GATE = pytest.StashKey[GateSession]()


def gate_of(config: pytest.Config) -> GateSession | None:
    """The gate session of ``config``; None when pytest-benchmark is disabled."""
    return config.stash.get(_GATE, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    from vbench.plugin import add_option_group

    add_option_group(parser, "vbench-gate", "vbench: regression gate (with --benchmark-compare)", GATE_OPTIONS,
                     GATE_FLAGS)


def _raw(config: pytest.Config, spec):
    value = config.getoption(spec.ini)
    return value if value is not None else config.getini(spec.ini)


def _hardware_key(config: pytest.Config) -> str:
    from vbench.machine import hardware_key
    from vbench.plugin import session_of

    return hardware_key(session_of(config).settings.device)


def _explicit_file(compare) -> Path | None:
    """``--benchmark-compare=PATH`` naming a file (rather than a run number or glob)."""
    if not isinstance(compare, str):
        return None
    path = Path(compare)
    return path if path.suffix == ".json" or path.is_file() else None


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's pytest_configure, which loads the baseline
def pytest_configure(config: pytest.Config) -> None:
    from vbench.benchmark_adapter import concise_machine_info_warning

    concise_machine_info_warning(config)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    # An explicitly named baseline file is checked before pytest-benchmark reads it (it would log a
    # long warning, or fail on a file without machine_info).
    compare = config.getoption("benchmark_compare", None)
    if isinstance(compare, str) and Path(compare).suffix != ".json" and ("/" in compare or Path(compare).is_dir()) \
            and not Path(compare).is_file():
        # pytest-benchmark globs the value inside its storage folder: a path there is an INTERNALERROR
        what = "is a folder" if Path(compare).is_dir() else "is no file"
        raise pytest.UsageError(f"--benchmark-compare={compare} {what}: give a stored run's number or a JSON "
                                "file (a storage folder goes to --benchmark-storage)")
    explicit = _explicit_file(compare)
    if explicit is not None:
        try:
            load_run(explicit)
        except VBenchError as exc:
            raise pytest.UsageError(f"vbench gate: {exc}") from None
    # pytest-benchmark names its storage folder when it is configured (trylast, so after vbench
    # has resolved the device): by hardware, not by OS + Python.
    with storage_keyed_by(lambda: _hardware_key(config)):
        return (yield)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    bs = getattr(config, "_benchmarksession", None)
    if bs is None or bs.disabled:
        return
    try:
        config.stash[_GATE] = _start(config, bs)
    except VBenchError as exc:
        raise pytest.UsageError(f"vbench gate: {exc}") from None


def _start(config: pytest.Config, bs) -> GateSession:
    from vbench.plugin import session_of

    vb = session_of(config).settings
    settings = resolve_gate_settings(lambda spec: _raw(config, spec), matrix=vb.matrix, device_type=vb.device.type)
    bs.save_data = True  # the gate's statistics need raw samples in every saved run
    make_writes_atomic(bs)
    gate = GateSession(settings, _hardware_key(config), str(bs.storage), bool(bs.save or bs.autosave),
                       bool(bs.compare))
    if not bs.compare:
        return gate
    if hasattr(bs.storage, "query"):
        query = ("[0-9][0-9][0-9][0-9]_",) if bs.compare is True else (bs.compare,)
        paths = [Path(p) for p in bs.storage.query(*query)]
    else:
        paths = []
    if bs.compare is not True and not paths:
        raise VBenchError(f"--benchmark-compare={bs.compare}: no stored run matches in {bs.storage}")
    from vbench.schema import SCHEMA_VERSION

    if bs.compare is True:  # the whole stored history; a named run is judged against that run alone
        gate.history_paths = paths[-HISTORY_SESSIONS:]
    gate.baseline_paths, gate.notes = select_baselines(paths, settings.baseline_runs, gate.hardware_key,
                                                       allow_foreign=settings.allow_foreign,
                                                       schema_version=SCHEMA_VERSION, spare=SPARE_SESSIONS)
    return gate


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from vbench.fresh import keep_only_cells

    keep_only_cells(config, items)  # a no-op unless this is a fresh-process confirmation


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    funcargs = getattr(item, "funcargs", {})
    cell, bench = funcargs.get("vb_cell"), funcargs.get("benchmark")
    try:
        result = yield
    except BaseException:
        # A cell interrupted (Ctrl-C) or failed after its rounds has stats but no vbench metrics:
        # keep it out of the saved JSON rather than store a half-measured cell as a baseline.
        if cell is not None and bench is not None:
            bench.has_error = True
        raise
    gate = gate_of(item.config)
    if gate is not None and cell is not None and bench is not None and bench.stats and not bench.has_error:
        from vbench.plugin import session_of

        gate.after_cell(session_of(item.config).runner, cell, bench)
    return result


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    gate = gate_of(config)
    if gate is not None and gate.has_baseline:
        report = gate.build_report(config)
        if report is not None:
            output_json["vbench_gate"] = report.as_dict()
        if gate.interrupted:  # Ctrl-C while confirming: the saved run is incomplete, never a baseline
            from vbench.plugin import session_of

            session_of(config).interrupted = True
            output_json.get("vbench", {})["complete"] = False  # in case vbench's own fields came first


def pytest_sessionfinish(session: pytest.Session) -> None:
    gate = gate_of(session.config)
    if gate is None or not gate.compare_requested:
        return
    report = gate.build_report(session.config)
    gate.write_outputs(report)
    if gate.interrupted:
        session.exitstatus = pytest.ExitCode.INTERRUPTED
    elif report is not None and report.exit_status and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    gate = gate_of(config)
    if gate is None or not gate.compare_requested:
        return
    terminalreporter.section("vbench gate")
    if gate.report is None:
        terminalreporter.write_line(gate.no_baseline_line())
        return
    max_rows = None if config.get_verbosity() > 0 else MAX_TERMINAL_ROWS
    for line in render_text(gate.report, max_rows).splitlines():
        red = line.startswith("vbench gate:") and gate.report.exit_status
        terminalreporter.write_line(line, red=bool(red), bold=line.startswith("vbench gate:"))
    if gate.report.exit_status:
        terminalreporter.write_line(
            f"vbench gate: FAILED, {len(gate.report.regressions)} regression(s), "
            f"{len(gate.report.inconclusive)} inconclusive; exit status 1", red=True, bold=True)
        # pytest's closing line counts them too (and is no longer green): "12 passed, 2 regressed (vbench gate)"
        terminalreporter.stats.setdefault("regressed (vbench gate)", []).extend(gate.report.regressions)
