"""The regression gate inside pytest: which stored sessions to judge against, fresh sessions for
suspect cells, verdicts at the end of the session (docs/gate.md).

Registered by :mod:`vbench.pytest_plugin.plugin`. Hooks only delegate to a :class:`GateSession` kept in
``config.stash``; judging lives in :mod:`vbench.compare` (importable without pytest), and every touch
of pytest-benchmark's internals in :mod:`vbench.pytest_plugin.benchmark_adapter`:

- the storage folder is the run's ``hardware_key`` instead of OS + Python, so ``--benchmark-autosave``
  then ``--benchmark-compare`` compares an H100 run only with runs of the same GPU, CUDA and torch;
- saved runs always keep their raw per-round samples (``save_data``): the gate's statistics need them;
- its JSON writes go through a temporary file: Ctrl-C never leaves half a file, and runs saved at
  once into one folder never overwrite each other.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vbench.compare.baselines import select_baselines
from vbench.compare.options import GATE_FLAGS, GATE_OPTIONS, resolve_gate_settings
from vbench.compare.render import render_text
from vbench.compare.runs import load_run
from vbench.errors import VBenchError
from vbench.pytest_plugin.benchmark_adapter import make_writes_atomic, storage_keyed_by
from vbench.pytest_plugin.gate_session import HISTORY_SESSIONS, MAX_TERMINAL_ROWS, SPARE_SESSIONS, GateSession
from vbench.pytest_plugin.options import add_option_group, option_value
from vbench.pytest_plugin.session import session_of

__all__ = ["GateSession", "gate_of"]

_GATE = pytest.StashKey[GateSession]()


def gate_of(config: pytest.Config) -> GateSession | None:
    """The gate session of ``config``; None when pytest-benchmark is disabled."""
    return config.stash.get(_GATE, None)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option_group(parser, "vbench-gate", "vbench: regression gate (with --benchmark-compare)", GATE_OPTIONS,
                     GATE_FLAGS)


def _hardware_key(config: pytest.Config) -> str:
    from vbench.machine import hardware_key
    return hardware_key(session_of(config).settings.device)


def _explicit_file(compare) -> Path | None:
    """``--benchmark-compare=PATH`` naming a file (rather than a run number or glob)."""
    if not isinstance(compare, str):
        return None
    path = Path(compare)
    return path if path.suffix == ".json" or path.is_file() else None


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's pytest_configure, which loads the baseline
def pytest_configure(config: pytest.Config) -> None:
    from vbench.pytest_plugin.benchmark_adapter import concise_machine_info_warning

    concise_machine_info_warning(config)


@pytest.hookimpl(wrapper=True)
def pytest_cmdline_main(config: pytest.Config):
    # An explicitly named baseline file is checked before pytest-benchmark reads it (it would log a
    # long warning, or fail on a file without machine_info).
    compare = config.getoption("benchmark_compare", None)
    # pytest-benchmark globs the value inside its storage folder ("NUM" or "KEY/NUM"): a folder, or an
    # absolute path that is no file, would be an INTERNALERROR there.
    if isinstance(compare, str) and Path(compare).suffix != ".json" and not Path(compare).is_file() \
            and (Path(compare).is_dir() or Path(compare).is_absolute()):
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
    vb = session_of(config).settings
    settings = resolve_gate_settings(lambda spec: option_value(config, spec), matrix=vb.matrix, device_type=vb.device.type)
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
    from vbench.pytest_plugin.fresh import keep_only_cells

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
        gate.after_cell(session_of(item.config).runner, cell, bench)
    return result


@pytest.hookimpl(trylast=True)  # after vbench's own block is written
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    gate = gate_of(config)
    if gate is not None and gate.has_baseline:
        report = gate.build_report(config)
        if report is not None:
            output_json["vbench_gate"] = report.as_dict()
            # the run-level level is split when A/B pairs were planned: `vbench compare` re-judges alike
            output_json.setdefault("vbench", {})["confirm_against"] = gate.confirm_against
        if gate.interrupted:  # Ctrl-C while confirming: the saved run is incomplete, never a baseline
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
    elif report is not None and report.exit_status and session.exitstatus in (pytest.ExitCode.OK,
                                                                              pytest.ExitCode.USAGE_ERROR):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a regression outranks bad input met in a cell


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
