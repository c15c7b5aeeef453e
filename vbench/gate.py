"""The regression gate inside pytest: hardware-keyed storage, baseline checks, confirmation, verdicts.

Registered by :mod:`vbench.plugin`. Hooks only delegate to a :class:`GateSession` kept in
``config.stash``; judging lives in :mod:`vbench.compare` (importable without pytest).

What it changes in pytest-benchmark, and why:

- the storage folder is the run's ``hardware_key`` instead of OS + Python, so ``--benchmark-autosave``
  then ``--benchmark-compare`` compares an H100 run only with runs of the same GPU, CUDA and torch;
- saved runs always keep their raw per-round samples (``save_data``): the gate's statistics need them;
- its JSON writes go through a temporary file and ``os.replace``: Ctrl-C never leaves half a file.
"""

from __future__ import annotations

import os
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vbench.compare.io import append_text, atomic_write_bytes, atomic_write_text
from vbench.compare.options import GATE_FLAGS, GATE_OPTIONS, GateSettings, resolve_gate_settings
from vbench.compare.render import render_json, render_markdown, render_text
from vbench.compare.report import Report, compare_runs, match_cell, regressed_sampled_cells
from vbench.compare.runs import (
    SAMPLE_KEYS, SAMPLE_SOURCES, CellRecord, Run, check_hardware, load_run, merge_runs, run_from_json,
)
from vbench.compare.verdicts import REGRESSED, SAMPLED_CHECKS, judge_cell
from vbench.errors import VBenchError

__all__ = ["GateSession", "gate_of"]

MAX_TERMINAL_ROWS = 60


@dataclass
class GateSession:
    """Gate state of one pytest session."""

    settings: GateSettings
    hardware_key: str
    storage: str
    saving: bool
    compare_requested: bool
    baseline: Run | None = None
    report: Report | None = None
    probe: Any = None  # the machine probe, built on first use

    # -- per cell --------------------------------------------------------------------------------

    def after_cell(self, runner, cell, bench) -> None:
        """Relative time and, when the cell looks regressed against the baseline, confirmation."""
        try:
            cell_step, eager_step, context = runner.steps(cell)
        except RuntimeError:
            return  # measured by something other than the runner: nothing to re-measure with
        # Re-measure with the clock the benchmark's rounds were taken with (a marker or
        # --benchmark-timer may have replaced vbench's default); pytest-benchmark keeps it in _timer.
        timer, extra = getattr(bench, "_timer", None) or runner.timer, bench.extra_info
        turns = getattr(runner, "turns", None)  # vbench ab: what is re-measured takes a turn of its own
        exclusive = turns is not None and (self.settings.relative or self.baseline is not None)
        if exclusive:
            turns.before_round(f"{cell.id} gate")
        try:
            self._measure_after(cell, bench, cell_step, eager_step, context, timer, extra, runner.device)
        finally:
            if exclusive:
                turns.release()

    def _references(self, cell, eager_step, device) -> dict[str, Any]:
        """What this cell's time is divided by, per ratio metric: the eager model (``rel_time``,
        --vb-relative) and the machine probe (``norm_time``, --vb-probe)."""
        refs: dict[str, Any] = {}
        if self.settings.relative and eager_step is not None and cell.optimization != "eager":
            refs["rel_time"] = eager_step
        return refs

    def _measure_after(self, cell, bench, cell_step, eager_step, context, timer, extra, device) -> None:
        from vbench.timing import time_call

        pairs = self.settings.relative_pairs
        with context():
            refs = self._references(cell, eager_step, device)
            for metric, reference in refs.items():
                extra[SAMPLE_KEYS[metric]] = _interleaved_ratios(cell_step, reference, pairs, timer)
                extra[metric] = float(_median(extra[SAMPLE_KEYS[metric]]))
            if self.baseline is None:
                return
            samples = list(bench.stats.stats.data)
            current = CellRecord(bench.fullname, bench.name, extra, samples)
            base = match_cell(self.baseline, current)
            if base is None:
                return
            looks = [r.metric for r in judge_cell(base, current, self.settings.policy, SAMPLED_CHECKS)
                     if r.verdict == REGRESSED]
            rounds = self.settings.rounds_to_confirm(len(samples))
            if not looks or rounds == 0:
                return
            confirm: dict[str, Any] = {"looked_regressed": looks, "rounds": rounds}
            if any(m not in refs for m in looks):
                cell_step()  # the first re-measured call pays any cache refill; keep it out
                confirm[SAMPLE_KEYS["time"]] = [time_call(cell_step, timer) for _ in range(rounds)]
            for metric in (m for m in looks if m in refs):
                confirm[SAMPLE_KEYS[metric]] = _interleaved_ratios(cell_step, refs[metric], max(rounds, pairs), timer)
            extra["gate_confirm"] = confirm

    # -- session end -----------------------------------------------------------------------------

    def build_report(self, config: pytest.Config) -> Report | None:
        """Compare this session's cells with the baseline (once); None without a baseline."""
        if self.report is not None or self.baseline is None:
            return self.report
        bs = config._benchmarksession
        kept = [b for b in bs.benchmarks if not b.has_error]
        report = self._compare(config, kept)
        names = regressed_sampled_cells(report)
        if names and self.settings.confirm_process:
            why_not = self._fresh_confirmation(config, kept, names)
            if why_not:
                report.notes.append(why_not)
            else:  # judged again, now with the fresh samples in each cell's gate_confirm
                report = self._compare(config, kept)
                report.notes.append(f"time regressions re-measured in a fresh process: {len(names)} cell(s)")
        self.report = report
        return self.report

    def _compare(self, config: pytest.Config, benchmarks) -> Report:
        data = {
            "machine_info": {"hardware_key": self.hardware_key},
            "benchmarks": [b.as_dict(include_data=True) for b in benchmarks],
            "vbench": {"skipped": _skipped(config)},
        }
        current = run_from_json(data, "this run", require_samples=False)
        return compare_runs(self.baseline, current, self.settings.policy, allow_foreign=self.settings.allow_foreign)

    def _fresh_confirmation(self, config: pytest.Config, benchmarks, names: list[str]) -> str | None:
        """Re-measure ``names`` in a fresh process and keep its samples in each cell's
        ``extra_info.gate_confirm.fresh`` (so the saved JSON judges the same later); returns why
        not, when it could not be done."""
        from vbench.fresh import remeasure
        from vbench.plugin import session_of

        if config.getoption("numprocesses", None):
            return "fresh-process confirmation skipped under xdist (workers time differently)"
        if session_of(config).settings.interleave:
            return "fresh-process confirmation skipped while taking turns (vbench ab)"
        try:
            fresh = remeasure(config, names)
        except VBenchError as exc:
            return f"fresh-process confirmation not done: {exc}"
        for bench in benchmarks:
            cell = fresh.cells.get(bench.fullname)
            if cell is not None:
                bench.extra_info.setdefault("gate_confirm", {})["fresh"] = {
                    SAMPLE_KEYS[source]: samples for source in SAMPLE_SOURCES if (samples := cell.samples_of(source))}
        return None

    def no_baseline_line(self) -> str:
        saved = ("this run was saved as the first baseline" if self.saving
                 else "run with --benchmark-autosave to save this run as the first baseline")
        return (f"vbench gate: no baseline for hardware key {self.hardware_key} in {self.storage}; "
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


def _skipped(config: pytest.Config) -> list[dict]:
    from vbench.plugin import session_of

    return list(session_of(config).skipped)


_GATE = pytest.StashKey[GateSession]()


def gate_of(config: pytest.Config) -> GateSession | None:
    """The gate session of ``config``; None when pytest-benchmark is disabled."""
    return config.stash.get(_GATE, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vbench-gate", "vbench: regression gate (with --benchmark-compare)")
    for spec in GATE_OPTIONS:
        default = f" (default: {spec.default})" if spec.default is not None else ""
        # argparse %-formats help strings: the default "time:5%,..." needs its percent signs doubled.
        group.addoption(spec.flag, dest=spec.ini, metavar=spec.metavar, default=None,
                        help=(spec.help + default).replace("%", "%%"))
        parser.addini(spec.ini, help=f"vbench: {spec.help} (same as {spec.flag})", default=None)
    for spec in GATE_FLAGS:
        group.addoption(spec.flag, dest=spec.ini, action="store_true", default=None, help=spec.help)
        parser.addini(spec.ini, help=f"vbench: {spec.help} (same as {spec.flag})", type="bool", default=False)


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


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    import pytest_benchmark.session as pb_session

    # An explicitly named baseline file is checked before pytest-benchmark reads it (it would log a
    # long warning, or fail on a file without machine_info).
    explicit = _explicit_file(config.getoption("benchmark_compare", None))
    if explicit is not None:
        try:
            load_run(explicit)
        except VBenchError as exc:
            raise pytest.UsageError(f"vbench gate: {exc}") from None
    # pytest-benchmark names its storage folder by get_machine_id() (OS + Python) when it is
    # configured (trylast, so after vbench has resolved the device); key it by hardware instead.
    original = pb_session.get_machine_id
    pb_session.get_machine_id = lambda: _hardware_key(config)
    try:
        return (yield)
    finally:
        pb_session.get_machine_id = original


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

    settings = resolve_gate_settings(lambda spec: _raw(config, spec), matrix=session_of(config).settings.matrix)
    bs.save_data = True  # the gate's statistics need raw samples in every saved run
    _make_writes_atomic(bs)
    gate = GateSession(settings, _hardware_key(config), str(bs.storage), bool(bs.save or bs.autosave),
                       bool(bs.compare))
    if not bs.compare:
        return gate
    if hasattr(bs.storage, "query"):
        query = ("[0-9][0-9][0-9][0-9]_",) if bs.compare is True else (bs.compare,)
        paths = bs.storage.query(*query)
    else:
        paths = []
    if paths:
        runs = [load_run(path) for path in paths[-settings.baseline_runs:]]
        for run in runs:  # compare_runs marks the rows cross-hardware; a foreign run is refused here
            check_hardware(run, gate.hardware_key, allow_foreign=settings.allow_foreign)
        gate.baseline = runs[0] if len(runs) == 1 else merge_runs(
            runs, f"{len(runs)} stored runs, {Path(runs[0].source).stem} .. {Path(runs[-1].source).stem}")
    return gate


def _make_writes_atomic(bs) -> None:
    """Route pytest-benchmark's two JSON writers through a temp file + ``os.replace``."""
    from pytest_benchmark.utils import safe_dumps

    def dumps(output_json) -> bytes:
        return safe_dumps(output_json, ensure_ascii=True, indent=4).encode()

    def save_json(self, output_json):
        atomic_write_bytes(self.json, dumps(output_json))
        self.logger.info(f"Wrote benchmark data in: {self.json}", purple=True)

    bs.save_json = types.MethodType(save_json, bs)
    storage = bs.storage
    if hasattr(storage, "_next_num") and hasattr(storage, "get"):

        def save(self, output_json, save):
            output_file = self.get(f"{self._next_num}_{save}.json")
            if output_file.exists():  # never overwrite a stored run
                raise VBenchError(f"{output_file} already exists; not overwriting a stored run")
            atomic_write_bytes(output_file, dumps(output_json))
            self.logger.info(f"Saved benchmark data in: {output_file}")

        storage.save = types.MethodType(save, storage)


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
    if gate is not None and gate.baseline is not None:
        output_json["vbench_gate"] = gate.build_report(config).as_dict()


def pytest_sessionfinish(session: pytest.Session) -> None:
    gate = gate_of(session.config)
    if gate is None or not gate.compare_requested:
        return
    report = gate.build_report(session.config)
    gate.write_outputs(report)
    if report is not None and report.exit_status and session.exitstatus == pytest.ExitCode.OK:
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
            f"vbench gate: FAILED, {len(gate.report.regressions)} regression(s) (time ones after a confirming "
            "re-measure); exit status 1", red=True, bold=True)
