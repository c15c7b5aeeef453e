"""What one measured cell produced: a :class:`CellResult`, flattened into ``extra_info`` in one place.

Like torch.utils.benchmark's ``Measurement``: the runner fills it with what it measured (raw round
times, memory peaks, FLOPs, the guard's agreement, fallbacks, telemetry, what the workload of the
cell's mode measured) and the rates are derived here, lazily, from the raw numbers. Nothing edits the
flat dict afterwards: :meth:`CellResult.to_extra_info` is the only place its keys are written (keys
and units in :mod:`vbench.schema`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vbench.metrics.memory import MemorySample
from vbench.metrics.peak import mfu
from vbench.profiles import Cell
from vbench.schema import SCHEMA_VERSION

__all__ = ["ColdStart", "CellResult"]

_FLOPS_COUNTER = "fvcore + scaled_dot_product_attention handle; gflops = 2 x gmacs, per sample"


@dataclass(frozen=True)
class ColdStart:
    """Seconds to the first answer: building the model, applying the optimization, the first call."""

    build_s: float
    convert_s: float
    first_call_s: float

    @property
    def total_s(self) -> float:
        return self.build_s + self.convert_s + self.first_call_s


@dataclass
class CellResult:
    """One cell's measurement.

    ``round_s``: pytest-benchmark's per-round seconds. ``step_s``: the seconds the rates are computed
    from (the rounds themselves, or a DDP job's own per-step times); ``batches_per_step``: batches of
    ``cell.batch_size`` one of those steps processes (1; 16 in a data round; one per rank in DDP).
    ``flops_factor``: FLOPs per sample over the forward's (3 for full training; None when the rounds
    run no model, as in data cells). ``mode_fields``: what the workload of the cell's mode measured;
    ``metrics``: registered metrics computed per cell (:mod:`vbench.metrics.registry`).
    """

    cell: Cell
    family: str
    device: str
    precision: str
    gpu_name: str | None
    round_s: list[float]
    step_s: list[float]
    batches_per_step: int
    flops_gmacs: float
    flops_ignored_ops: tuple[str, ...]
    flops_factor: float | None
    params: int
    trainable_params: int
    memory: MemorySample
    cold_start: ColdStart
    warmup_iters: int
    warmup_s: float
    agreement: dict[str, Any]
    seed: int
    weights: str | None
    notes: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    norm_time_samples: list[float] = field(default_factory=list)
    probe_s: list[float] = field(default_factory=list)
    load_avg_1m: float | None = None
    threads: int | None = None
    telemetry: dict[str, Any] = field(default_factory=dict)
    fallbacks: dict[str, Any] = field(default_factory=dict)
    compile_cache: str | None = None
    tolerance_max_rel_err: float | None = None
    correctness: str = ""
    trace_file: str | None = None
    trace_top_ops: str | None = None
    mode_fields: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    # -- derived ------------------------------------------------------------------------------

    def _percentiles_ms(self) -> tuple[float | None, float | None, float | None]:
        steps = np.asarray(self.step_s, dtype=float)
        if not steps.size:
            return None, None, None
        p50, p90, p99 = np.percentile(steps, [50, 90, 99]) * 1e3
        return float(p50), float(p90), float(p99)

    @property
    def samples_per_s(self) -> float | None:
        """Samples per second at the median step."""
        if not self.step_s:
            return None
        return self.cell.batch_size / float(np.median(self.step_s)) * self.batches_per_step

    @property
    def latency_ms_per_sample(self) -> float | None:
        p50 = self._percentiles_ms()[0]
        return None if p50 is None else p50 / self.cell.batch_size / self.batches_per_step

    @property
    def tflops_achieved(self) -> float | None:
        rate = self.samples_per_s
        if not rate or self.flops_factor is None:
            return None
        return 2 * self.flops_gmacs * rate / 1e3 * self.flops_factor

    @property
    def mfu(self) -> float | None:
        return mfu(self.tflops_achieved, self.gpu_name, self.precision)

    def norm_time_fields(self) -> dict[str, Any]:
        """``norm_time`` (median round time over the probe's), its per-round samples and the probe's median."""
        if not self.norm_time_samples:
            return {}
        return {
            "norm_time": float(np.median(self.norm_time_samples)),
            "norm_time_samples": self.norm_time_samples,
            "probe_ms_p50": float(np.median(self.probe_s)) * 1e3,
        }

    # -- the one flattening -------------------------------------------------------------------

    def to_extra_info(self) -> dict[str, Any]:
        """The flat ``extra_info`` of the cell (keys documented in :mod:`vbench.schema`)."""
        cell = self.cell
        p50, p90, p99 = self._percentiles_ms()
        return {
            "schema_version": SCHEMA_VERSION,
            "model": cell.model,
            "family": self.family,
            "optimization": cell.optimization,
            "mode": cell.mode,
            "batch_size": cell.batch_size,
            "img_size": cell.img_size,
            "device": self.device,
            "precision": self.precision,
            "samples_per_s": self.samples_per_s,
            "latency_ms_p50": p50,
            "latency_ms_p90": p90,
            "latency_ms_p99": p99,
            "latency_ms_per_sample": self.latency_ms_per_sample,
            "rounds": len(self.round_s),
            "peak_mem_allocated_mb": self.memory.peak_mem_allocated_mb,
            "peak_mem_reserved_mb": self.memory.peak_mem_reserved_mb,
            "peak_rss_mb": self.memory.peak_rss_mb,
            "rss_method": self.memory.rss_method,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "gmacs": self.flops_gmacs,
            "gflops": 2 * self.flops_gmacs,
            "flops_counter": _FLOPS_COUNTER,
            "flops_ignored_ops": list(self.flops_ignored_ops),
            "tflops_achieved": self.tflops_achieved,
            "mfu": self.mfu,
            "cold_start_s": self.cold_start.total_s,
            "build_s": self.cold_start.build_s,
            "convert_s": self.cold_start.convert_s,
            "first_call_s": self.cold_start.first_call_s,
            "warmup_iters": self.warmup_iters,
            "warmup_s": self.warmup_s,
            **self.agreement,
            "seed": self.seed,
            "weights": self.weights,
            "lora_rank": self.notes.get("lora_rank"),
            "notes": {k: v for k, v in self.notes.items() if k not in ("optimizations", "accuracy", "fallbacks")},
            "warnings": self.warnings,
            **self.mode_fields,
            **self.norm_time_fields(),
            "load_avg_1m": self.load_avg_1m,
            "threads": self.threads,
            **self.telemetry,
            **self.fallbacks,
            "compile_cache": self.compile_cache,
            "tolerance_max_rel_err": self.tolerance_max_rel_err,
            "correctness": self.correctness,
            "trace_file": self.trace_file,
            "trace_top_ops": self.trace_top_ops,
            **self.metrics,
        }
