"""``vbench doctor``: is this machine ready to take numbers worth keeping?

Reads only: GPU presence, driver/CUDA/torch consistency, other processes on the GPUs, clocks and
throttle reasons, persistence mode, the CPU frequency governor, free memory, torch threads against
usable cores and the load average. It never changes a setting (clocks, power, governor): it says
what to look at. Each check is a small function returning :class:`Check` items; the pure ones take
their inputs as arguments so they are tested without the hardware.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Check", "run_doctor", "format_checks", "governor_checks", "thread_checks", "cuda_driver_checks",
           "memory_checks", "load_checks"]


@dataclass(frozen=True)
class Check:
    """One finding: ``status`` is ok, warn or info."""

    name: str
    status: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def governor_checks(governors: dict[str, str]) -> list[Check]:
    """CPU frequency governors (cpu name -> governor); anything but ``performance`` lets clocks drift."""
    if not governors:
        return [Check("cpu_governor", "info", "no cpufreq in /sys (VM or container): the host sets CPU clocks")]
    slow = sorted({g for g in governors.values() if g != "performance"})
    if slow:
        count = sum(g in slow for g in governors.values())
        return [Check("cpu_governor", "warn", f"governor {', '.join(slow)} on {count}/{len(governors)} CPUs: "
                      "clocks vary with load; 'performance' gives steadier timings")]
    return [Check("cpu_governor", "ok", f"performance on all {len(governors)} CPUs")]


def thread_checks(torch_threads: int, cores: int, omp: str | None, load1: float = 0.0) -> list[Check]:
    """The threads a vbench run's cells use (``torch_threads``: --vb-threads auto, half the usable
    cores) against the cores, counting the work already running (``load1``)."""
    note = f" (OMP_NUM_THREADS={omp})" if omp else ""
    if torch_threads > cores:
        return [Check("threads", "warn", f"cells use {torch_threads} threads on {cores} usable cores: "
                      f"oversubscribed, timings will be noisy (set --vb-threads){note}")]
    if torch_threads + load1 > cores:
        return [Check("threads", "warn", f"cells use {torch_threads} thread(s) on {cores} usable cores, with load "
                      f"{load1:.1f} already running: they will take turns with it (contended timings){note}")]
    return [Check("threads", "ok", f"cells use {torch_threads} thread(s) on {cores} usable cores "
                  f"(--vb-threads auto){note}")]


def cuda_driver_checks(torch_cuda: str | None, driver_cuda: int | None, driver: str | None) -> list[Check]:
    """torch's CUDA runtime against the newest CUDA the driver supports (NVML's 12080 form)."""
    if torch_cuda is None:
        return [Check("cuda", "info", "this torch is a CPU build: no CUDA")]
    if driver_cuda is None:
        return [Check("cuda", "warn", f"torch is built for CUDA {torch_cuda} but the driver's CUDA version is "
                      "unknown (NVML unavailable)")]
    major, minor = (int(p) for p in torch_cuda.split(".")[:2])
    have = (driver_cuda // 1000, driver_cuda % 1000 // 10)
    if (major, minor) > have:
        return [Check("cuda", "warn", f"torch needs CUDA {torch_cuda}, driver {driver} supports up to "
                      f"{have[0]}.{have[1]}: update the driver or use a matching torch build")]
    return [Check("cuda", "ok", f"torch CUDA {torch_cuda}, driver {driver} (CUDA {have[0]}.{have[1]})")]


def memory_checks(available_mb: float | None, min_mb: float = 4096) -> list[Check]:
    """Host memory available to new work."""
    if available_mb is None:
        return [Check("host_memory", "info", "MemAvailable unknown (/proc/meminfo missing)")]
    status = "warn" if available_mb < min_mb else "ok"
    return [Check("host_memory", status, f"{available_mb / 1024:.1f} GiB available")]


def load_checks(load1: float, cores: int) -> list[Check]:
    """Other work on the machine (1-minute load average against cores)."""
    if load1 > 0.5 * cores:
        return [Check("load", "warn", f"load average {load1:.1f} on {cores} cores: other work is running; "
                      "CPU timings and data loading will be disturbed")]
    return [Check("load", "ok", f"load average {load1:.1f} on {cores} cores")]


def _governors() -> dict[str, str]:
    out = {}
    for path in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/cpufreq/scaling_governor")):
        try:
            out[path.parent.parent.name] = path.read_text().strip()
        except OSError:
            continue
    return out


def _mem_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _gpu_checks() -> list[Check]:
    import torch

    checks: list[Check] = []
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if not count:
        checks.append(Check("gpu", "warn", "no CUDA GPU visible: CPU-only run (smoke profile); GPU cells are skipped"))
    else:
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(count))
        checks.append(Check("gpu", "ok", f"{count} GPU(s): {names}"))
    try:
        import pynvml

        pynvml.nvmlInit()
    except Exception as exc:  # reported as a finding, never raised
        if count:
            checks.extend(cuda_driver_checks(torch.version.cuda, None, None))
        else:
            cuda = torch.version.cuda or "none"
            checks.append(Check("cuda", "info", f"torch CUDA {cuda}; no GPU to check it against"))
        checks.append(Check("nvml", "warn" if count else "info", f"NVML unavailable ({type(exc).__name__}: {exc}): "
                            "no driver, process, clock or persistence checks"))
        return checks
    try:
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
        checks.extend(cuda_driver_checks(torch.version.cuda, pynvml.nvmlSystemGetCudaDriverVersion(), driver))
        for i in range(pynvml.nvmlDeviceGetCount()):
            checks.extend(_nvml_device_checks(pynvml, i))
    finally:
        pynvml.nvmlShutdown()
    return checks


def _nvml_device_checks(nvml, index: int) -> list[Check]:
    """Other processes, persistence mode, clocks and throttle reasons of GPU ``index`` (NVML order)."""
    from vbench.metrics.telemetry import UNSTABLE_REASONS, decode_reasons

    h = nvml.nvmlDeviceGetHandleByIndex(index)
    name = f"gpu{index}"
    out = []
    procs = [p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid != os.getpid()]
    out.append(Check(f"{name}_processes", "warn" if procs else "ok",
                     f"other compute processes: {procs}" if procs else "no other compute process"))
    try:
        persistence = nvml.nvmlDeviceGetPersistenceMode(h)
        out.append(Check(f"{name}_persistence", "ok" if persistence else "warn",
                         "persistence mode on" if persistence else "persistence mode off: the first CUDA call "
                         "after idle re-initializes the driver (slower cold starts)"))
    except nvml.NVMLError as exc:
        out.append(Check(f"{name}_persistence", "info", f"persistence mode unknown ({exc})"))
    sm = nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM)
    sm_max = nvml.nvmlDeviceGetMaxClockInfo(h, nvml.NVML_CLOCK_SM)
    reader = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
        nvml.nvmlDeviceGetCurrentClocksThrottleReasons
    reasons = decode_reasons(int(reader(h)))
    hot = [r for r in reasons if r in UNSTABLE_REASONS]
    out.append(Check(f"{name}_clocks", "warn" if hot else "ok",
                     f"SM clock {sm}/{sm_max} MHz, reasons: {', '.join(reasons) or 'none'}"))
    mem = nvml.nvmlDeviceGetMemoryInfo(h)
    out.append(Check(f"{name}_memory", "ok", f"{mem.free / 2**30:.1f} of {mem.total / 2**30:.1f} GiB free"))
    return out


def run_doctor() -> list[Check]:
    """Every check on this machine, in a fixed order. Reads only."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    checks = _gpu_checks()
    checks.extend(governor_checks(_governors()))
    from vbench.settings import resolve_threads

    threads = resolve_threads("auto", torch.device("cpu")) or torch.get_num_threads()
    checks.extend(thread_checks(threads, cores, os.environ.get("OMP_NUM_THREADS"), os.getloadavg()[0]))
    checks.extend(memory_checks(_mem_available_mb()))
    checks.extend(load_checks(os.getloadavg()[0], cores))
    return checks


def format_checks(checks: list[Check]) -> str:
    """One line per check, then a count of warnings."""
    lines = [f"[{c.status:<4}] {c.name:<18} {c.message}" for c in checks]
    warns = sum(c.status == "warn" for c in checks)
    lines.append(f"{warns} warning(s); vbench doctor changes nothing on this machine")
    return "\n".join(lines)
