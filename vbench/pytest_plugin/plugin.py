"""The pytest plugin: ``--vb-*`` options, cell parametrization, pytest-benchmark hooks and fixtures.

Registered through the ``pytest11`` entry point, so any repository that installs vbench can write::

    @pytest.mark.vbench(mode="inference")
    def test_inference(vb_cell, vb_measure):
        vb_measure(vb_cell)

Hooks only delegate: options are resolved once into :class:`~vbench.settings.RunSettings`, state
lives in a :class:`VBenchSession` kept in ``config.stash``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import pytest

from vbench.errors import VBenchError
from vbench.profiles import Cell, load_matrix
from vbench.pytest_plugin.options import add_option_group, option_value
from vbench.pytest_plugin.session import SESSION_KEY, VBenchSession, session_of
from vbench.settings import OPTIONS, RunSettings, resolve_settings

__all__ = ["VBenchSession", "session_of"]

# The regression gate and pytest-xdist scale-out are plugin modules of their own, registered with this one.
pytest_plugins = ("vbench.pytest_plugin.gate", "vbench.pytest_plugin.xdist")


def pytest_addoption(parser: pytest.Parser) -> None:
    add_option_group(parser, "vbench", "vbench: vision model benchmark matrix", OPTIONS)


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        "vbench(mode): a vbench cell function; mode is inference, train, data or ddp",
        "inference: inference cells",
        "train: training-step cells",
        "data: data-loading cells",
        "lora: cells whose optimization adds LoRA adapters (peft)",
        "gpu: cells whose optimization runs only on CUDA",
        "compile: cells whose optimization compiles or exports the model",
        "ddp: DistributedDataParallel training cells (torchrun, at least 2 GPUs)",
    ):
        config.addinivalue_line("markers", line)
    # fvcore (FLOP counting) calls torch.jit.script at import, which this torch deprecates: a warning
    # in every user's run that says nothing about their code. Narrow on purpose.
    config.addinivalue_line("filterwarnings", "ignore:`torch.jit.script` is deprecated:FutureWarning")
    try:
        settings = resolve_settings(lambda spec: option_value(config, spec))
        if settings.matrix:  # read here first: its errors are the matrix's, not the gate's (which reads gate:)
            load_matrix(settings.matrix)
    except VBenchError as exc:
        raise pytest.UsageError(str(exc)) from None
    _apply_torch_flags(settings)
    config.stash[SESSION_KEY] = VBenchSession(settings)
    config.pluginmanager.register(config.stash[SESSION_KEY], "vbench-session")
    from vbench.pytest_plugin.benchmark_adapter import narrow_default_columns

    narrow_default_columns(config)


def _apply_torch_flags(settings: RunSettings) -> None:
    """Set every numeric flag explicitly so each run records what it ran with (see machine_info)."""
    import torch

    if settings.threads:
        torch.set_num_threads(settings.threads)
    torch.backends.cuda.matmul.allow_tf32 = settings.tf32
    torch.backends.cudnn.allow_tf32 = settings.tf32
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    if settings.device.type == "cuda":
        torch.cuda.set_device(settings.device)


def pytest_collection(session: pytest.Session) -> None:
    # Bad names fail here, as one usage line, before any cell is collected or run.
    try:
        session_of(session.config).expand()
    except VBenchError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "vb_cell" not in metafunc.fixturenames:
        return
    from vbench.optimizations.plan import Stage, resolve_plan
    from vbench.timing import device_timer

    marker = metafunc.definition.get_closest_marker("vbench")
    mode = marker.kwargs.get("mode", "inference") if marker else "inference"
    vb = session_of(metafunc.config)
    timer = device_timer(vb.settings.device)
    params = []
    for cell in _cells_of_mode(vb.cells, mode):
        plan = resolve_plan(cell.optimization)
        marks = [
            getattr(pytest.mark, mode),
            pytest.mark.benchmark(group=f"{mode}-{cell.model}-bs{cell.batch_size}-{cell.img_size}px", timer=timer),
        ]
        if plan.devices == {"cuda"}:
            marks.append(pytest.mark.gpu)
        if any(p.stage == Stage.COMPILE for p in plan.parts):
            marks.append(pytest.mark.compile)
        if any(p.name.startswith("lora_r") for p in plan.parts):
            marks.append(pytest.mark.lora)
        params.append(pytest.param(cell, id=cell.id, marks=marks))
    metafunc.parametrize("vb_cell", params)


def _cells_of_mode(cells: list[Cell], mode: str) -> list[Cell]:
    """The cells of ``mode``; DDP cells are derived from the eager training cells of the profile."""
    if mode == "ddp":
        from vbench.workloads.ddp import ddp_cells

        return ddp_cells(cells)
    return [c for c in cells if c.mode == mode]


def _check_output_paths(config: pytest.Config) -> None:
    """Every file the run will write, checked before the first cell: a folder, a read-only place or a
    missing parent fails now, in one line, not after the cells ran (losing their results)."""
    import os
    from pathlib import Path

    files = [("--benchmark-json", config.getoption("benchmark_json", None))]
    for name in ("vb_verdict_md", "vb_verdict_json"):
        value = config.getoption(name, None) or config.getini(name)
        files.append((f"--{name.replace('_', '-')}", value))
    for flag, value in files:
        if not value:
            continue
        path = Path(value)
        parent = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise pytest.UsageError(f"{flag} {path}: is a folder, not a file")
        if path.exists() and not os.access(path, os.W_OK):
            raise pytest.UsageError(f"{flag} {path}: not writable")
        existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise pytest.UsageError(f"{flag} {path}: cannot create it ({existing} is not a writable folder)")
    trace = session_of(config).settings.trace_dir
    if trace is not None and (trace.exists() and not trace.is_dir()):
        raise pytest.UsageError(f"--vb-trace {trace}: is a file, not a folder")


def pytest_sessionstart(session: pytest.Session) -> None:
    _check_output_paths(session.config)
    # Read once, before any cell, in every run: it loads libraries (cuDNN's version loads cuDNN,
    # ~85 MB resident with a CUDA build of torch). pytest-benchmark asks for it before the cells
    # when comparing and after them otherwise, so reading it lazily made every cell's peak RSS
    # ~85 MB higher in compare runs than in the autosaved runs they were compared with.
    vbench_machine_info(session.config)
    session_of(session.config).started = time.monotonic()


def vbench_machine_info(config: pytest.Config) -> dict[str, Any]:
    """vbench's part of pytest-benchmark's machine_info, read on first use and kept."""
    from vbench.machine import machine_info

    vb = session_of(config)
    if vb.machine is None:
        vb.machine = machine_info(vb.settings.device)
    return vb.machine


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info.update(vbench_machine_info(config))


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    from vbench.schema import SCHEMA_VERSION

    vb = session_of(config)
    s = vb.settings
    output_json["vbench"] = {
        "schema_version": SCHEMA_VERSION,
        "profile": str(s.matrix) if s.matrix else s.profile,
        "device": str(s.device),
        "compile_mode": s.compile_mode,
        "seed": s.seed,
        "warmup": asdict(s.warmup),
        "skipped": vb.skipped,
        "complete": not vb.interrupted,
        "deselected": vb.deselected,
    }


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    from vbench.metrics.fallbacks import summary_sections

    # Records travel in the reports' user_properties, so they reach the controller under xdist too.
    records = [
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "vbench_summary"
    ]
    for title, lines in summary_sections(records):
        terminalreporter.write_sep("-", title)
        for line in lines:
            terminalreporter.write_line(line)
    _run_summary(terminalreporter, config)


def _run_summary(terminalreporter, config: pytest.Config) -> None:
    """One line per measured cell, the harness overhead and a contention warning."""
    from vbench.pytest_plugin.run_summary import cell_lines, contention_line, overhead_line
    from vbench.settings import usable_cores

    bs = getattr(config, "_benchmarksession", None)
    vb = config.stash.get(SESSION_KEY, None)
    benchmarks = [b for b in getattr(bs, "benchmarks", []) if not getattr(b, "has_error", False)]
    cells = []
    timed = 0.0
    for bench in benchmarks:
        data = bench.as_dict(include_data=True)
        extra = data.get("extra_info") or {}
        if "mode" not in extra:
            continue
        cells.append((data["name"], extra))
        stats = data.get("stats") or {}
        timed += sum(stats.get("data") or []) * (stats.get("iterations") or 1)
    if not cells or vb is None:
        return
    terminalreporter.write_sep("-", "vbench summary")
    for line in cell_lines(cells, None if config.get_verbosity() > 0 else 40):
        terminalreporter.write_line(line)
    if vb.started is not None:
        terminalreporter.write_line(overhead_line(time.monotonic() - vb.started, timed, len(cells)))
    warning = contention_line((e.get("load_avg_1m") for _, e in cells), vb.settings.threads, usable_cores())
    if warning:
        terminalreporter.write_line(warning, yellow=True)


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    vb = items[0].config.stash.get(SESSION_KEY, None)
    if vb is not None:
        vb.deselected.extend(item.nodeid for item in items if "vb_cell" in getattr(item, "fixturenames", ()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    callspec = getattr(item, "callspec", None)
    if report.skipped and callspec is not None and "vb_cell" in callspec.params:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        session_of(item.config).record_skipped_item(callspec.id, reason.removeprefix("Skipped: "))
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)  # outside pytest-benchmark's wrapper, which writes the JSON
def pytest_sessionfinish(session: pytest.Session, exitstatus):
    vb = session.config.stash.get(SESSION_KEY, None)
    if vb is not None:
        vb.interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or bool(session.shouldstop)
        if exitstatus == pytest.ExitCode.TESTS_FAILED and vb.failed["bad_input"] and not vb.failed["other"]:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # bad input met in a cell is not a regression
    try:
        return (yield)
    finally:
        if vb is not None and vb._runner is not None:
            vb._runner.release()


@pytest.fixture(scope="session")
def vb_settings(pytestconfig: pytest.Config) -> RunSettings:
    """The resolved vbench settings of this run."""
    return session_of(pytestconfig).settings


@pytest.fixture
def vb_measure(request: pytest.FixtureRequest, benchmark):
    """``vb_measure(cell)`` measures one cell through ``benchmark`` and stores its metrics in
    ``benchmark.extra_info`` (:meth:`vbench.result.CellResult.to_extra_info`), which it also returns;
    a cell that cannot run here is skipped with the reason."""
    from vbench.correctness import CorrectnessError
    from vbench.metrics.fallbacks import cell_record
    from vbench.runner import CellSkipped

    vb = session_of(request.config)

    def summarize(cell: Cell, result: dict[str, Any], failure: str | None = None) -> None:
        if (record := cell_record(cell.id, result, failure)) is not None:
            request.node.user_properties.append(("vbench_summary", record))

    def measure(cell: Cell) -> dict[str, Any]:
        wrong: CorrectnessError | None = None
        try:
            result = vb.runner.run(cell, benchmark).to_extra_info()
        except CellSkipped as exc:
            vb.record_skip(cell, str(exc))
            pytest.skip(f"{cell.id}: {exc}")
        except CorrectnessError as exc:
            wrong = exc
        except VBenchError as exc:  # bad input met while building this cell: one line, no traceback
            benchmark.has_error = True
            request.node.user_properties.append(("vbench_bad_input", str(exc)))  # exit 4 unless a cell failed
            pytest.fail(f"{cell.id}: {exc}", pytrace=False)
        if wrong is not None:  # outside the except block: the failure is the message, not a traceback
            summarize(cell, wrong.result, wrong.result.get("correctness"))
            pytest.fail(f"correctness guard: {wrong}", pytrace=False)
        benchmark.extra_info.update(result)
        summarize(cell, result)
        return result

    return measure
