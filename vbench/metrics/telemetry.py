"""Hardware telemetry during a timed cell: a background thread samples NVML (GPU) or /proc (CPU).

On CUDA each sample holds GPU utilization, memory used, power, the total-energy counter (Volta and
later), temperature, SM clock, the clock-event (throttle) reason bitmask and the other processes on
the GPU. A cell during which the GPU throttled for thermal or power reasons, or shared the GPU with
another process, gets ``unstable = True`` and ``unstable_reason``: the gate must not take it as a
baseline. Without NVML the sampler records the process's CPU utilization and RSS, the GPU fields
are null and ``telemetry_note`` says why; the session warns once that NVML is unavailable.

NVML indexes every GPU of the machine and ignores CUDA_VISIBLE_DEVICES, so the handle is found by
the device's UUID as torch sees it.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "THROTTLE_REASONS", "UNSTABLE_REASONS", "TelemetryWarning", "Sample", "decode_reasons", "energy_joules",
    "summarize", "Telemetry", "Sampler",
]

# NVML clock-event ("throttle") reason bits (nvmlClocksEventReason*, same values as the older
# nvmlClocksThrottleReason*). Only thermal and power reasons make a measurement unstable: idle, sync
# boost and application clocks are the normal state of a benchmarked GPU.
THROTTLE_REASONS: dict[int, str] = {
    0x1: "gpu_idle",
    0x2: "applications_clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal_slowdown",
    0x40: "hw_thermal_slowdown",
    0x80: "hw_power_brake_slowdown",
    0x100: "display_clock_setting",
}
UNSTABLE_REASONS = frozenset({"sw_power_cap", "hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown",
                              "hw_power_brake_slowdown"})
_MB = 1024 * 1024


class TelemetryWarning(UserWarning):
    """Telemetry is partial on this machine (NVML missing or failing); shown once per session."""


def decode_reasons(mask: int) -> list[str]:
    """Names of the bits set in an NVML clock-event reason ``mask`` (unknown bits as ``bit_0x...``)."""
    names = [name for bit, name in THROTTLE_REASONS.items() if mask & bit]
    rest = mask & ~sum(THROTTLE_REASONS)
    bit = 1
    while rest:
        if rest & bit:
            names.append(f"bit_{bit:#x}")
            rest &= ~bit
        bit <<= 1
    return names


@dataclass
class Sample:
    """One telemetry sample; fields a source cannot give stay None."""

    t: float
    gpu_util_pct: float | None = None
    gpu_mem_used_mb: float | None = None
    power_w: float | None = None
    energy_mj: float | None = None  # NVML total-energy counter since driver load, millijoules
    temp_c: float | None = None
    sm_clock_mhz: float | None = None
    reasons_mask: int = 0
    other_pids: tuple[int, ...] = ()
    cpu_util_pct: float | None = None
    rss_mb: float | None = None


def energy_joules(samples: list[Sample]) -> tuple[float | None, str | None]:
    """Energy over ``samples`` and how it was found: the counter's difference where the GPU has one,
    else power integrated over time (trapezoids); ``(None, None)`` without power readings."""
    counters = [s for s in samples if s.energy_mj is not None]
    if len(counters) >= 2 and counters[-1].energy_mj >= counters[0].energy_mj:
        return (counters[-1].energy_mj - counters[0].energy_mj) / 1e3, "nvml_total_energy_counter"
    powered = [s for s in samples if s.power_w is not None]
    if len(powered) >= 2:
        joules = sum((b.t - a.t) * (a.power_w + b.power_w) / 2 for a, b in zip(powered, powered[1:]))
        return joules, "integrated_power"
    return None, None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(samples: list[Sample], source: str, note: str | None,
              per_sample_s: float | None = None) -> dict[str, Any]:
    """The extra_info fields of one cell from its samples (``source``: nvml, cpu or off).

    ``per_sample_s`` (median latency per image) turns mean power into ``energy_j_per_sample``.
    """
    def col(name):
        return [v for s in samples if (v := getattr(s, name)) is not None]

    mask = 0
    others: set[int] = set()
    for s in samples:
        mask |= s.reasons_mask
        others.update(s.other_pids)
    reasons = decode_reasons(mask)
    energy, method = energy_joules(samples)
    duration = samples[-1].t - samples[0].t if len(samples) >= 2 else None
    power = energy / duration if energy is not None and duration else _mean(col("power_w"))
    unstable = [r for r in reasons if r in UNSTABLE_REASONS]
    if others:
        unstable.append(f"shared_gpu(pids={','.join(map(str, sorted(others)))})")
    clocks = col("sm_clock_mhz")
    return {
        "telemetry_source": source,
        "telemetry_note": note,
        "telemetry_samples": len(samples),
        "gpu_util_pct_mean": _mean(col("gpu_util_pct")),
        "gpu_mem_used_mb_max": max(col("gpu_mem_used_mb"), default=None),
        "gpu_power_w_mean": power,
        "gpu_energy_j": energy,
        "gpu_energy_method": method,
        "energy_j_per_sample": power * per_sample_s if power is not None and per_sample_s else None,
        "gpu_temp_c_max": max(col("temp_c"), default=None),
        "sm_clock_mhz_mean": _mean(clocks),
        "sm_clock_mhz_min": min(clocks, default=None),
        "throttle_reasons": reasons if source == "nvml" else None,
        "other_gpu_pids": sorted(others) if source == "nvml" else None,
        "cpu_util_pct_mean": _mean(col("cpu_util_pct")),
        "rss_mb_max": max(col("rss_mb"), default=None),
        "unstable": bool(unstable),
        "unstable_reason": "; ".join(unstable) or None,
    }


class _CpuProbe:
    """This process's CPU utilization (all threads; 100 = one core busy) and RSS, from /proc."""

    def __init__(self):
        self._last = (time.perf_counter(), time.process_time())

    def read(self, sample: Sample) -> None:
        from vbench.metrics.memory import current_rss_mb

        now, cpu = time.perf_counter(), time.process_time()
        wall = now - self._last[0]
        if wall > 0:
            sample.cpu_util_pct = 100.0 * (cpu - self._last[1]) / wall
        self._last = (now, cpu)
        sample.rss_mb = current_rss_mb()


class _NvmlProbe:
    """NVML readings of one GPU; every call may raise pynvml.NVMLError (caught by the sampler)."""

    def __init__(self, nvml, handle):
        self.nvml, self.handle = nvml, handle
        self.has_energy = True
        self._reasons = getattr(nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nvml.nvmlDeviceGetCurrentClocksThrottleReasons

    def read(self, sample: Sample) -> None:
        nvml, h = self.nvml, self.handle
        sample.gpu_util_pct = float(nvml.nvmlDeviceGetUtilizationRates(h).gpu)
        sample.gpu_mem_used_mb = nvml.nvmlDeviceGetMemoryInfo(h).used / _MB
        sample.power_w = nvml.nvmlDeviceGetPowerUsage(h) / 1e3
        if self.has_energy:
            try:
                sample.energy_mj = float(nvml.nvmlDeviceGetTotalEnergyConsumption(h))
            except nvml.NVMLError_NotSupported:
                self.has_energy = False  # pre-Volta: integrate power instead
        sample.temp_c = float(nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU))
        sample.sm_clock_mhz = float(nvml.nvmlDeviceGetClockInfo(h, nvml.NVML_CLOCK_SM))
        sample.reasons_mask = int(self._reasons(h))
        me = os.getpid()
        sample.other_pids = tuple(p.pid for p in nvml.nvmlDeviceGetComputeRunningProcesses(h) if p.pid != me)


@dataclass
class Sampler:
    """Context manager sampling every ``interval_s`` in a daemon thread (plus once at entry and exit).

    A probe failing mid-run (NVML error) stops GPU sampling, keeps CPU sampling and is recorded in
    ``note``; the cell's timing is never lost to telemetry.
    """

    source: str
    interval_s: float
    gpu: Any = None  # _NvmlProbe or None
    note: str | None = None
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self):
        self._cpu = _CpuProbe()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _take(self) -> None:
        sample = Sample(time.perf_counter())
        self._cpu.read(sample)
        if self.gpu is not None:
            try:
                self.gpu.read(sample)
            except Exception as exc:  # NVML failing mid-run: keep the cell, say what happened
                self.gpu, self.source = None, "cpu"
                self.note = f"NVML failed during the cell ({type(exc).__name__}: {exc}); GPU fields are partial"
        self.samples.append(sample)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take()

    def __enter__(self) -> Sampler:
        if self.source != "off":
            self._take()
            self._thread = threading.Thread(target=self._loop, name="vbench-telemetry", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._take()

    def fields(self, per_sample_s: float | None = None) -> dict[str, Any]:
        """The cell's telemetry fields for extra_info (see :func:`summarize`)."""
        return summarize(self.samples, self.source, self.note, per_sample_s)


class Telemetry:
    """One per session: opens NVML once, hands out a :class:`Sampler` per timed cell, warns once."""

    def __init__(self, enabled: bool = True, interval_s: float = 0.05):
        self.enabled, self.interval_s = enabled, interval_s
        self._nvml: Any = None
        self._nvml_error: str | None = None
        self._warned = False

    def _open_nvml(self):
        if self._nvml is None and self._nvml_error is None:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml
            except Exception as exc:  # library or driver missing: recorded, warned once
                self._nvml_error = f"NVML unavailable ({type(exc).__name__}: {exc})"
        return self._nvml

    def _handle(self, nvml, device):
        import torch

        index = device.index if device.index is not None else torch.cuda.current_device()
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:
            text = str(uuid)
            return nvml.nvmlDeviceGetHandleByUUID(text if text.startswith("GPU-") else f"GPU-{text}")
        return nvml.nvmlDeviceGetHandleByIndex(index)  # right only when all GPUs are visible

    def _unavailable(self) -> str:
        if not self._warned:
            self._warned = True
            warnings.warn(f"vbench: {self._nvml_error}: telemetry records CPU utilization and RSS only",
                          TelemetryWarning, stacklevel=3)
        return self._nvml_error

    def sampler(self, device) -> Sampler:
        """A sampler for a cell on ``device`` (a torch.device)."""
        if not self.enabled:
            return Sampler("off", self.interval_s, note="telemetry off (--vb-telemetry off)")
        nvml = self._open_nvml()
        if device.type != "cuda":
            note = f"device is {device.type}: GPU fields are null"
            return Sampler("cpu", self.interval_s, note=note if nvml else f"{note}; {self._unavailable()}")
        if nvml is not None:
            try:
                return Sampler("nvml", self.interval_s, gpu=_NvmlProbe(nvml, self._handle(nvml, device)))
            except Exception as exc:
                self._nvml_error = f"NVML has no handle for {device} ({type(exc).__name__}: {exc})"
        return Sampler("cpu", self.interval_s, note=self._unavailable())
