"""pytest-xdist scale-out: one worker per GPU (or per share of the CPU cores) and one merged JSON.

pytest-benchmark turns itself off under xdist, because cells timed side by side on one device
disturb each other. vbench turns it back on where that does not happen:

- ``--vb-gpu-per-worker`` (mode ``xdist-gpu``): one worker per visible GPU; the controller gives
  each worker ``CUDA_VISIBLE_DEVICES=<its gpu>`` through the execnet spec, so it is set before the
  worker imports torch, let alone initializes CUDA.
- CPU device (mode ``xdist-cpu``): each worker gets ``cores // workers`` cores of its own
  (``os.sched_setaffinity``) and as many torch threads.
- plain ``-n`` on one CUDA device: refused as soon as a worker collects a vbench cell.

Workers time cells with benchmarks enabled and send each benchmark's ``as_dict()`` (raw data and
extra_info) to the controller inside the test report, as each cell finishes, so a crashed worker
loses nothing already measured. The controller hands them to pytest-benchmark (terminal table,
``--benchmark-save``) and writes ``--benchmark-json`` itself, atomically, through the same hooks.

The parallel mode is recorded in ``machine_info["parallel_mode"]`` and ``vbench.parallel`` of the
JSON, and a non-serial mode suffixes ``hardware_key`` so baselines never mix modes.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from vbench.profiles import CELL_ID
from vbench.pytest_plugin.parallel_plan import ParallelPlan, cpu_share, plan_parallel, visible_gpus
from vbench.pytest_plugin.session import session_of

__all__ = ["ParallelPlan", "plan_parallel", "cpu_share", "model_scope", "write_json_atomic", "RemoteBenchmark"]

_BENCH_PROP = "vbench_benchmark"
_SKIP_PROP = "vbench_skipped"
_PLAN_KEY = "vbench_parallel"
def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace``: a reader never
    sees half a file, and an interrupted write leaves the old one."""
    from pytest_benchmark.utils import safe_dumps

    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(safe_dumps(data, ensure_ascii=True, indent=4).encode())
    os.replace(tmp, path)


class RemoteBenchmark:
    """A benchmark measured on a worker, as pytest-benchmark's session expects one (``as_dict``)."""

    has_error = False

    def __init__(self, data: dict[str, Any]):
        self.data = data
        self.fullname = data["fullname"]
        self.name = data["name"]
        self.group = data.get("group")

    def as_dict(self, include_data=True, flat=False, stats=True, cprofile=None) -> dict[str, Any]:
        out = {k: v for k, v in self.data.items() if k != "stats"}
        if stats:
            values = dict(self.data["stats"])
            if not include_data:
                values.pop("data", None)
            if flat:
                out.update(values)
            else:
                out["stats"] = values
        return out


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput") and config.getoption("dist", "no") != "no" \
        and bool(config.getoption("tx", None))


def _plan_of(config: pytest.Config) -> ParallelPlan:
    return config.stash.get(_PLAN_STASH, ParallelPlan())


_PLAN_STASH = pytest.StashKey[ParallelPlan]()


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    # -n auto with --vb-gpu-per-worker: one worker per GPU, not per CPU core.
    from vbench.settings import parse_on_off

    raw = config.getoption("vb_gpu_per_worker") or config.getini("vb_gpu_per_worker")
    if raw and parse_on_off("gpu_per_worker", raw):
        return len(visible_gpus()) or None
    return None


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    settings = session_of(config).settings
    if hasattr(config, "workerinput"):
        _configure_worker(config, ParallelPlan(**config.workerinput.get(_PLAN_KEY, {})))
        return
    if not _is_controller(config):
        if settings.gpu_per_worker:
            print("vbench: --vb-gpu-per-worker has no effect without -n (pytest-xdist); running serially")
        config.stash[_PLAN_STASH] = ParallelPlan()
        return
    if settings.interleave:
        raise pytest.UsageError("--vb-interleave (vbench ab) takes turns between two serial sessions; drop -n")
    specs = list(config.getoption("tx"))
    plan = plan_parallel(
        len(specs), gpu_per_worker=settings.gpu_per_worker, device_type=settings.device.type,
        gpus=visible_gpus() if settings.gpu_per_worker else [], cores=len(os.sched_getaffinity(0)),
        threads=settings.threads,
    )
    if settings.gpu_per_worker and plan.refused:
        raise pytest.UsageError(plan.refused)
    for note in plan.notes:
        print(note)
    if plan.mode == "xdist-gpu":
        # execnet sets these in the worker process before it imports pytest or torch.
        specs = [f"{spec}//env:CUDA_VISIBLE_DEVICES={gpu}" for spec, gpu in zip(specs, plan.gpus)]
    config.option.tx = specs
    config.stash[_PLAN_STASH] = plan
    _adjust_benchmark_session(config)
    config.pluginmanager.register(_Controller(config), "vbench-xdist-controller")


def _configure_worker(config: pytest.Config, plan: ParallelPlan) -> None:
    config.stash[_PLAN_STASH] = plan
    _adjust_benchmark_session(config)


def _adjust_benchmark_session(config: pytest.Config) -> None:
    """Turn pytest-benchmark back on in a worker (and its warning off on the controller) once both
    vbench's plan and pytest-benchmark's session exist. Called from both sides, because the order of
    the two plugins' trylast pytest_configure follows the order setuptools loads entry points in,
    which differs between checkouts: called only from here, workers of some checkouts kept
    benchmarks disabled and `pytest bench -n 2` wrote no JSON."""
    bs = getattr(config, "_benchmarksession", None)
    plan = config.stash.get(_PLAN_STASH, None)
    if bs is None or plan is None or plan.mode == "serial" or plan.refused:
        return
    if not hasattr(config, "workerinput"):
        bs.xdist_warning = False  # its "disabled under xdist" warning is wrong here: workers measure
        return
    if not config.getoption("benchmark_disable"):
        # Measuring here is safe (own GPU or own cores); the controller writes JSON and storage.
        bs.disabled = bs.xdist_warning = False
        bs.json, bs.save, bs.autosave, bs.compare, bs.compare_fail = None, None, False, None, None


def pytest_plugin_registered(plugin, manager) -> None:
    from pytest_benchmark.session import BenchmarkSession

    if isinstance(plugin, BenchmarkSession):
        _adjust_benchmark_session(plugin.config)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Pin a worker to its share of the cores only once it has vbench cells to time: a plain test
    # suite run with -n keeps the whole machine.
    plan = _plan_of(config)
    if not hasattr(config, "workerinput") or plan.mode == "serial" or plan.refused:
        return
    if not any("vb_cell" in getattr(item, "fixturenames", ()) for item in items):
        return
    import torch

    index = int(config.workerinput["workerid"].lstrip("gw") or 0)
    cores = cpu_share(sorted(os.sched_getaffinity(0)), plan.workers, index)
    if cores:
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(plan.threads_per_worker or 1)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    node.workerinput[_PLAN_KEY] = {k: v for k, v in asdict(_plan_of(node.config)).items() if k != "notes"}


_CELL_ID = re.compile(rf"\[{CELL_ID.pattern}\]")


def model_scope(nodeid: str) -> str:
    """The scheduling scope of a test: a vbench cell's model (so one worker keeps one model across
    optimizations and batch sizes and builds it once), else the test's module or class."""
    match = _CELL_ID.search(nodeid)
    return f"vbench-model:{match['model']}" if match else nodeid.rsplit("::", 1)[0]


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    # xdist's loadgroup cannot be used: with pytest 9 its nodeid suffix (item._nodeid) is ignored.
    if _plan_of(config).mode == "serial" or config.getoption("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ModelScopeScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return model_scope(nodeid)

        def remove_node(self, node):
            # LoadScope re-queues the cell that crashed its worker, which then crashes the next one
            # (until xdist runs out of restarts); mark it done so it fails once and the rest goes on.
            units = self.assigned_work.get(node, {}).values()
            crash = next((nid for unit in units for nid, done in unit.items() if not done), None)
            for unit in units:
                if crash in unit:
                    unit[crash] = True
            super().remove_node(node)
            return crash

    return ModelScopeScheduling(config, log)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # A refusal errors each cell with one line (and a failing exit status) while other tests run:
    # the controller cannot know before collection whether a run has cells at all.
    plan = _plan_of(item.config)
    if plan.refused and "vb_cell" in getattr(item, "fixturenames", ()):
        pytest.fail(plan.refused, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    config = item.config
    if not hasattr(config, "workerinput") or call.when != "call":
        return report
    from pytest_benchmark.utils import safe_dumps

    bench = getattr(item, "funcargs", {}).get("benchmark")
    if bench is not None and getattr(bench, "stats", None) and not bench.has_error:
        data = bench.stats.as_dict(include_data=True)
        plan = _plan_of(config)
        data["extra_info"] = {**data["extra_info"], "xdist_worker": config.workerinput["workerid"],
                              "parallel_mode": plan.mode,
                              "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
        report.user_properties.append((_BENCH_PROP, safe_dumps(data, ensure_ascii=True)))
    cell = item.callspec.params.get("vb_cell") if hasattr(item, "callspec") else None
    for entry in session_of(config).skipped if cell is not None else ():
        if entry["id"] == cell.id:
            report.user_properties.append((_SKIP_PROP, json.dumps(entry, default=str)))
    return report


class _Controller:
    """Controller-side collector, registered only on an xdist controller: gathers what the workers
    measured, as each report arrives, and writes the merged JSON at the end."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.benchmarks: dict[str, RemoteBenchmark] = {}  # by nodeid: a re-run cell counts once
        self.skipped: dict[str, dict] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Strips the payload too, so junitxml and other reporters never see it.
        props = getattr(report, "user_properties", None) or []
        if not any(name in (_BENCH_PROP, _SKIP_PROP) for name, _ in props):
            return
        kept = []
        for name, value in props:
            if name == _BENCH_PROP:
                self._add(report.nodeid, json.loads(value))
            elif name == _SKIP_PROP:
                entry = json.loads(value)
                self.skipped[entry["id"]] = entry
            else:
                kept.append((name, value))
        report.user_properties = kept

    def _add(self, nodeid: str, data: dict) -> None:
        bs = getattr(self.config, "_benchmarksession", None)
        old = self.benchmarks.get(nodeid)
        self.benchmarks[nodeid] = bench = RemoteBenchmark(data)
        if bs is not None:
            # In pytest-benchmark's own list right away: its table and --benchmark-save/autosave
            # (run in its sessionfinish wrapper) see every cell as if measured here.
            if old is not None and old in bs.benchmarks:
                bs.benchmarks.remove(old)
            bs.benchmarks.append(bench)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session):
        # Outside pytest-benchmark's wrapper: the JSON is written here, atomically, before it would.
        config = self.config
        session_of(config).skipped.extend(self.skipped.values())
        bs = getattr(config, "_benchmarksession", None)
        if bs is not None and bs.json and self.benchmarks:
            benchmarks = [b for _, b in sorted(self.benchmarks.items())]
            machine_info = bs.get_machine_info()
            commit_info = config.hook.pytest_benchmark_generate_commit_info(config=config)
            config.hook.pytest_benchmark_update_commit_info(config=config, commit_info=commit_info)
            output = config.hook.pytest_benchmark_generate_json(
                config=config, benchmarks=benchmarks, include_data=True, machine_info=machine_info,
                commit_info=commit_info)
            config.hook.pytest_benchmark_update_json(config=config, benchmarks=benchmarks, output_json=output)
            write_json_atomic(bs.json, output)
            bs.logger.info(f"Wrote benchmark data in: {bs.json} ({len(benchmarks)} cells from the workers)",
                           purple=True)
            bs.json = None  # written; pytest-benchmark's own (non-atomic) writer skips it
        return (yield)


@pytest.hookimpl(trylast=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    plan = _plan_of(config)
    machine_info["parallel_mode"] = plan.mode
    machine_info["parallel_workers"] = plan.workers
    if plan.mode != "serial":
        machine_info["torch_threads"] = plan.threads_per_worker
    if plan.mode != "serial" and "hardware_key" in machine_info:
        from vbench.machine import hardware_key

        base = machine_info["hardware_key"]
        if plan.mode == "xdist-cpu":  # a worker's thread count, not the controller's
            base = hardware_key(session_of(config).settings.device, plan.threads_per_worker)
        machine_info["hardware_key"] = base + plan.key_suffix()


@pytest.hookimpl(trylast=True)
def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    output_json.setdefault("vbench", {})["parallel"] = _plan_of(config).record()
