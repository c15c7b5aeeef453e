"""How a pytest-xdist run shares the machine: one worker per visible GPU, or a share of the CPU cores
per worker with as many torch threads, or serial (plain ``-n`` on one CUDA device is refused).
Pure planning, importable without pytest; :mod:`vbench.pytest_plugin.xdist` applies the plan."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ONE_DEVICE_REASON", "ParallelPlan", "cpu_share", "plan_parallel", "visible_gpus"]

ONE_DEVICE_REASON = "parallel cells on one device disturb each other's timings"


@dataclass(frozen=True)
class ParallelPlan:
    """How this run is parallelized; ``refused`` holds the one-line reason when cells must not run."""

    mode: str = "serial"  # serial, xdist-cpu, xdist-gpu
    workers: int = 1
    threads_per_worker: int | None = None
    gpus: tuple[str, ...] = ()  # CUDA_VISIBLE_DEVICES value per worker (xdist-gpu)
    refused: str | None = None
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """The JSON form written to ``vbench.parallel``."""
        return {"mode": self.mode, "workers": self.workers, "threads_per_worker": self.threads_per_worker,
                "gpus": list(self.gpus)}

    def key_suffix(self) -> str:
        """Appended to ``hardware_key``: empty when serial, e.g. ``-xdist-cpu-2w`` otherwise."""
        return "" if self.mode == "serial" else f"-{self.mode}-{self.workers}w"


def visible_gpus() -> list[str]:
    """The ids to put in each worker's CUDA_VISIBLE_DEVICES (respecting the controller's own)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    inherited = [g.strip() for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return inherited[:count] if inherited else [str(i) for i in range(count)]


def cpu_share(cores: list[int], workers: int, index: int) -> list[int]:
    """The cores worker ``index`` of ``workers`` may use: an equal, disjoint slice of ``cores``."""
    per = len(cores) // workers
    return cores[index * per:(index + 1) * per]


def plan_parallel(workers: int, *, gpu_per_worker: bool, device_type: str, gpus: list[str],
                  cores: int, threads: int | None = None) -> ParallelPlan:
    """Decide the parallel mode of a run with ``workers`` xdist workers (0 or 1 = serial).

    Pure: takes what the machine has, returns the plan. ``workers`` larger than the GPUs keeps one
    worker per GPU (with a note); a refusal is reported only if vbench cells are collected.
    """
    if gpu_per_worker:
        if not gpus:
            return ParallelPlan(refused="--vb-gpu-per-worker: no CUDA GPU is visible here; drop it "
                                        "(on CPU, -n 2 gives each worker its own cores)")
        notes = []
        if workers > len(gpus):
            notes.append(f"vbench: -n {workers} but {len(gpus)} GPU(s) visible: using {len(gpus)} worker(s), "
                         "one per GPU")
        n = min(max(workers, 1), len(gpus))
        per = max(cores // n, 1)  # host threads too: workers must not fight over the CPU feeding the GPUs
        return ParallelPlan("xdist-gpu", n, min(threads, per) if threads else per, tuple(gpus[:n]), notes=notes)
    if workers <= 1:
        return ParallelPlan(workers=max(workers, 1))
    if device_type == "cuda":
        return ParallelPlan(refused=f"vbench: -n {workers} on one CUDA device refused: {ONE_DEVICE_REASON}; "
                                    "use --vb-gpu-per-worker (one worker per GPU) or run without -n")
    if workers > cores:
        return ParallelPlan(refused=f"vbench: -n {workers} on {cores} CPU core(s) refused: {ONE_DEVICE_REASON}; "
                                    f"use at most -n {cores} (each worker gets its own cores)")
    per = cores // workers
    return ParallelPlan("xdist-cpu", workers, min(threads, per) if threads else per)
