"""Runs one cell: build (cached), optimize, cold start, warm up, time through pytest-benchmark, record.

One code path serves every model and optimization. The model is built once per (model, image
size), each optimization is applied once to a copy of it, and the result is reused by every batch
size that follows; when the next cell needs another model, the old one is dropped and device
memory is freed.
"""

from __future__ import annotations

import copy
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from vbench.correctness import CorrectnessError, check_agreement, compare_outputs, logits_of
from vbench.fallbacks import DynamoWatch, compile_cache_counts, compile_cache_state, fallback_fields
from vbench.interleave import TurnClient
from vbench.machine import gpu_names
from vbench.metrics import FlopCount, PeakMemory, count_flops, count_params, free_memory, mfu
from vbench.metrics.telemetry import Telemetry
from vbench.models import create_model, resolve_model
from vbench.optimize import Executable, OptContext, OptimizationPlan, Stage, resolve_plan, tf32_allowed
from vbench.profiles import Cell
from vbench.rounds import timed_rounds
from vbench.schema import SCHEMA_VERSION
from vbench.settings import RunSettings
from vbench.timing import device_timer, synchronize, time_call, warm_up
from vbench.trace import trace_step

__all__ = ["CellSkipped", "CellRunner", "Workload", "WORKLOADS", "make_input", "is_out_of_memory"]

_OOM_TYPES = tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError})


class CellSkipped(Exception):
    """A cell that cannot run here; the message is the skip reason shown to the user."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA OOM and for the CPU allocator's out-of-memory RuntimeError."""
    if isinstance(exc, _OOM_TYPES):
        return True
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in str(exc) or "not enough memory" in str(exc)
    )


def make_input(batch_size: int, img_size: int, in_chans: int, seed: int, device: torch.device) -> torch.Tensor:
    """A seeded random image batch, drawn on the CPU (identical on every device) then moved once."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + batch_size * 1009 + img_size)
    return torch.randn(batch_size, in_chans, img_size, img_size, generator=generator).to(device)


@dataclass
class _Base:
    """The fp32 eager model of one (model, image size) on the device, and what was measured building it."""

    key: tuple[str, int]
    model: nn.Module
    family: str
    in_chans: int
    build_s: float
    flops: FlopCount
    references: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)  # (mode, batch) -> logits


@dataclass
class _Prepared:
    key: tuple[str, int, str, str, int | None]
    plan: OptimizationPlan
    exe: Executable
    convert_s: float
    warnings: list[str]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    lines = {f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught}
    return sorted(lines)


class Workload:
    """What one round of a mode does. Inference: one forward pass under ``torch.inference_mode()``.

    Subclasses (see :mod:`vbench.training`) override the step, the autograd context, work done once
    before timing (memory breakdown, phase split) and the fields they add.
    """

    def context(self):
        return torch.inference_mode()

    def make_step(self, exe: Executable, xp: torch.Tensor, cell: Cell, settings: RunSettings,
                  num_classes: int) -> Callable[[], Any]:
        self.cell = cell
        return lambda: exe(xp)

    def before_timing(self, runner: CellRunner, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        """Accuracy over ``--vb-data`` when the model has ``--vb-weights`` (null otherwise, never
        invented), computed once per optimized model with the optimized model itself."""
        settings = runner.settings
        fields = {"accuracy_top1": None, "accuracy_top5": None}
        if settings.data.root is None or settings.weights_for(self.cell.model) is None:
            return fields
        if "accuracy" not in exe.notes:
            from vbench.data import accuracy, build_dataset, build_loader

            dataset = build_dataset(settings.data, self.cell.img_size, train=False, seed=settings.seed)
            loader = build_loader(dataset, settings.data, self.cell.batch_size, runner.device, shuffle=False)
            exe.notes["accuracy"] = accuracy(exe, loader, runner.device, exe.prepare)
        return {**fields, **exe.notes["accuracy"]}

    def checked_output(self, exe: Executable, xp: torch.Tensor) -> Any:
        """The output compared with the fp32 eager reference."""
        return exe(xp)

    def adjust(self, result: dict[str, Any]) -> None:
        """Correct mode-dependent fields of ``result`` in place (training counts backward FLOPs)."""


# mode -> workload class; vbench.training adds "train".
WORKLOADS: dict[str, type[Workload]] = {"inference": Workload}


class CellRunner:
    """Measures cells for one session on one device (see :meth:`run`)."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.device = settings.device
        self.timer = device_timer(self.device)
        self._base: _Base | None = None
        self._prepared: _Prepared | None = None
        self._flops: dict[tuple[str, int], FlopCount] = {}
        self._gpu_name = gpu_names()[self.device.index or 0] if self.device.type == "cuda" else None
        self.telemetry = Telemetry(settings.telemetry, settings.telemetry_interval_s)
        # Taking turns with another session (vbench ab): connected once, for the whole session.
        self.turns = TurnClient(settings.interleave) if settings.interleave else None
        self.probe = None
        if settings.probe:  # timed before every round: each round's norm_time sample (vbench.rounds)
            from vbench.probe import machine_probe

            self.probe = machine_probe(self.device)

    # -- building -----------------------------------------------------------------------------

    def base_for(self, cell: Cell) -> _Base:
        """The fp32 eager model of ``cell``'s (model, image size), built once and kept until the next model."""
        key = (cell.model, cell.img_size)
        if self._base is not None and self._base.key == key:
            return self._base
        self.release()
        entry = resolve_model(cell.model)
        start = time.perf_counter()
        model = create_model(
            cell.model,
            img_size=cell.img_size,
            weights=self.settings.weights_for(cell.model),
            seed=self.settings.seed,
        )
        model = model.to(self.device)
        synchronize(self.device)
        build_s = time.perf_counter() - start
        if key not in self._flops:
            example = make_input(1, cell.img_size, entry.in_chans, self.settings.seed, self.device)
            self._flops[key] = count_flops(model, example)
        self._base = _Base(key, model, entry.family, entry.in_chans, build_s, self._flops[key])
        return self._base

    def prepare(self, cell: Cell, base: _Base, plan: OptimizationPlan, example: torch.Tensor) -> _Prepared:
        """``plan`` applied to a copy of ``base`` for ``cell``'s mode, kept for the following batch sizes.

        Training cells get the copy in train mode with autograd on; inference cells with it off
        (tracers and exporters need autograd-free, not inference-mode, tensors).
        """
        # Static-shape backends (exported graphs, ONNX sessions, TensorRT engines) build per batch size.
        key = (cell.model, cell.img_size, cell.optimization, cell.mode, cell.batch_size if plan.static_shapes else None)
        if self._prepared is not None and self._prepared.key == key:
            return self._prepared
        self._prepared = None
        free_memory(self.device)
        training = cell.mode != "inference"
        ctx = OptContext(self.device, cell.mode, example, self.settings.compile_mode, base.family, self.settings)
        with warnings.catch_warnings(record=True) as caught, torch.set_grad_enabled(training):
            warnings.simplefilter("always")
            start = self.timer()
            exe = plan.apply(copy.deepcopy(base.model).train(training), ctx)
            convert_s = self.timer() - start
        self._prepared = _Prepared(key, plan, exe, convert_s, _warning_lines(caught))
        return self._prepared

    def release(self) -> None:
        """Drop the cached models and free their memory (between models, after an OOM, at the end)."""
        self._prepared = None
        self._base = None
        self._last_step = None  # its closure holds the model and input too
        free_memory(self.device)

    def reference(self, base: _Base, x: torch.Tensor, mode: str = "inference") -> torch.Tensor:
        """fp32 eager logits of ``x`` (TF32 off whatever the session allows), cached per batch size.

        Training references run a copy in train mode (batch-norm statistics of the batch), so the
        base model's running statistics stay untouched.
        """
        key = (mode, x.shape[0])
        if key not in base.references:
            model = copy.deepcopy(base.model).train() if mode == "train" else base.model
            torch.manual_seed(self.settings.seed)  # the same drop-path/dropout masks as the cell's first step
            with torch.no_grad(), tf32_allowed(False):
                base.references[key] = logits_of(model(x)).float().cpu()
        return base.references[key]

    # -- measuring ----------------------------------------------------------------------------

    def run(self, cell: Cell, benchmark) -> dict[str, Any]:
        """Measure ``cell`` with pytest-benchmark's ``benchmark`` fixture and return its extra_info.

        Raises :class:`CellSkipped` when the cell cannot run here (device, missing package,
        failed compilation, out of memory); the caller turns it into a pytest skip. Raises
        :class:`~vbench.correctness.CorrectnessError` when the outputs are outside the tolerance of
        the cell's precision class; the cell is then kept out of the saved JSON.
        """
        workload = WORKLOADS.get(cell.mode)
        if workload is None:
            raise CellSkipped(f"mode {cell.mode!r} has no runner in this version of vbench")
        plan = resolve_plan(cell.optimization)
        reason = plan.unavailable_reason(self.device, cell.mode)
        if reason:
            raise CellSkipped(reason)
        try:
            result, failure = self._run(cell, plan, benchmark, workload())
        except CellSkipped:
            benchmark.has_error = True
            raise
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            benchmark.has_error = True  # keep a half-measured cell out of the JSON
            self.release()
            raise CellSkipped(f"out of memory at batch {cell.batch_size}") from None
        finally:
            if self.turns:
                self.turns.release()
        if failure:
            benchmark.has_error = True  # a wrong answer is not a measurement to keep
            raise CorrectnessError(f"{cell.id}: {failure}", result)
        return result

    def steps(self, cell: Cell) -> tuple[Callable[[], Any], Callable[[], Any] | None, Callable[[], Any]]:
        """What the regression gate re-measures the cell measured last with, in the same process:
        ``(step, eager_step, context)``: the timed step itself, one fp32 eager forward on the same
        input (None outside inference), and the context manager factory both must run in.
        """
        last = getattr(self, "_last_step", None)
        if last is None or last[0] != cell or self._base is None:
            raise RuntimeError(f"{cell.id} is not the cell this runner measured last")
        _, step, context = last
        eager_step = None
        if cell.mode == "inference":
            base = self._base
            with context():
                x = make_input(cell.batch_size, cell.img_size, base.in_chans, self.settings.seed, self.device)
            eager_step = lambda: base.model(x)  # noqa: E731
        return step, eager_step, context

    def _run(self, cell: Cell, plan: OptimizationPlan, benchmark, workload: Workload) -> tuple[dict[str, Any], str | None]:
        """The one measurement path: build, optimize, cold start, warm up, time, check, record.

        Returns the cell's extra_info and the correctness guard's failure message (None when correct).
        """
        if self.turns:  # build, convert, first call and warm-up alone too: cold_start_s is gated
            self.turns.before_round(f"{cell.id} cold start")
        try:
            with torch.no_grad():
                base = self.base_for(cell)
                x = make_input(cell.batch_size, cell.img_size, base.in_chans, self.settings.seed, self.device)
                reference = self.reference(base, x, "inference" if cell.mode == "inference" else "train")
        except (RuntimeError, ValueError, AssertionError) as exc:  # the model itself, fp32 eager, fails here
            if is_out_of_memory(exc):
                raise
            self.release()  # e.g. a 16 px patch embedding given 8 px images: a size the model cannot take
            raise CellSkipped(f"{cell.model} (fp32 eager) cannot run at {cell.img_size}px: {_first_line(exc)}") from None
        compiles = any(p.stage == Stage.COMPILE for p in plan.parts)
        watch = DynamoWatch.start()
        cache_before = compile_cache_counts()
        try:
            prepared = self.prepare(cell, base, plan, x)
            exe = prepared.exe
            with workload.context():
                xp = exe.prepare(x)
                step = workload.make_step(exe, xp, cell, self.settings, reference.shape[-1])
                self._last_step = (cell, step, workload.context)  # for steps()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    torch.manual_seed(self.settings.seed)  # its output is checked against the seeded reference
                    first_call_s = time_call(step, self.timer)
        except Exception as exc:
            if compiles and not is_out_of_memory(exc):
                self._prepared = None
                raise CellSkipped(f"{cell.optimization} failed for {cell.model}: {_first_line(exc)}") from None
            raise

        with workload.context():
            warmup = warm_up(step, self.settings.warmup, self.timer)
            extra = workload.before_timing(self, exe, prepared.plan)
            with PeakMemory(self.device) as memory, self.telemetry.sampler(self.device) as telemetry:
                rounds = timed_rounds(benchmark, step, cell_id=cell.id, turns=self.turns, probe=self.probe,
                                      timer=self.timer, estimate_s=warmup.seconds / max(warmup.iterations, 1))
            load_avg = _load_average()
            dynamo = watch.delta()
            precision = self._precision(plan)
            tolerances = self.settings.tolerances
            tolerance = tolerances[precision] if tolerances else None
            agreement = compare_outputs(workload.checked_output(exe, xp), reference, tolerance)
            traced = self._trace(cell, step)

        times = benchmark.stats.stats.data if benchmark.stats else []
        result = self._result(
            cell, base, prepared, times, memory.sample, agreement.as_dict(),
            first_call_s=first_call_s, warmup=warmup, call_warnings=_warning_lines(caught),
        )
        result.update(extra)
        result.update(_norm_time_fields(rounds.norm_time_samples(list(times)), rounds.probe_s))
        result.update(load_avg_1m=load_avg, threads=torch.get_num_threads() if self.device.type == "cpu" else None)
        per_sample_ms = result["latency_ms_per_sample"]
        result.update(telemetry.fields(per_sample_ms / 1e3 if per_sample_ms is not None else None))
        workload.adjust(result)
        result.update(fallback_fields(exe.notes, dynamo))
        result["compile_cache"] = compile_cache_state(cache_before, compile_cache_counts()) if compiles else None
        failure = check_agreement(agreement, precision, tolerances)
        result.update(
            tolerance_max_rel_err=tolerance.max_rel_err if tolerance else None,
            correctness="ok" if tolerance and not failure else (failure or "not checked (--vb-tolerance off)"),
            trace_file=str(traced.path) if traced and traced.path else None,
            trace_top_ops=traced.top_ops if traced and traced.top_ops else None,
        )
        return result, failure

    def _precision(self, plan: OptimizationPlan) -> str:
        precision = plan.precision
        if precision == "fp32" and torch.backends.cuda.matmul.allow_tf32 and self.device.type == "cuda":
            return "tf32"
        return precision

    def _trace(self, cell: Cell, step: Callable[[], Any]):
        if self.settings.trace_dir is None and not self.settings.trace_top:
            return None
        return trace_step(step, cell.id, self.device, out_dir=self.settings.trace_dir, top=self.settings.trace_top)

    def _result(self, cell, base, prepared, times, memory, agreement, *, first_call_s, warmup,
                call_warnings) -> dict[str, Any]:
        # The module as run: LoRA adds adapters and freezes the rest; a frozen TorchScript module has
        # its weights folded into constants, so it falls back to the eager model's count.
        module = prepared.exe.module
        total, trainable = count_params(module) if isinstance(module, nn.Module) else (0, 0)
        if total == 0:
            total, trainable = count_params(base.model)
        samples = np.asarray(times, dtype=float)
        p50, p90, p99 = (np.percentile(samples, [50, 90, 99]) * 1e3 if samples.size else (None,) * 3)
        samples_per_s = cell.batch_size / float(np.median(samples)) if samples.size else None
        tflops = 2 * base.flops.gmacs * samples_per_s / 1e3 if samples_per_s else None
        precision = self._precision(prepared.plan)
        cold_start_s = base.build_s + prepared.convert_s + first_call_s
        return {
            "schema_version": SCHEMA_VERSION,
            "model": cell.model,
            "family": base.family,
            "optimization": cell.optimization,
            "mode": cell.mode,
            "batch_size": cell.batch_size,
            "img_size": cell.img_size,
            "device": str(self.device),
            "precision": precision,
            "samples_per_s": samples_per_s,
            "latency_ms_p50": _num(p50),
            "latency_ms_p90": _num(p90),
            "latency_ms_p99": _num(p99),
            "latency_ms_per_sample": _num(p50 / cell.batch_size) if p50 is not None else None,
            "rounds": int(samples.size),
            "peak_mem_allocated_mb": memory.peak_mem_allocated_mb,
            "peak_mem_reserved_mb": memory.peak_mem_reserved_mb,
            "peak_rss_mb": memory.peak_rss_mb,
            "rss_method": memory.rss_method,
            "params": total,
            "trainable_params": trainable,
            "gmacs": base.flops.gmacs,
            "gflops": base.flops.gflops,
            "flops_counter": "fvcore + scaled_dot_product_attention handle; gflops = 2 x gmacs, per sample",
            "flops_ignored_ops": list(base.flops.ignored_ops),
            "tflops_achieved": tflops,
            "mfu": mfu(tflops, self._gpu_name, precision),
            "cold_start_s": cold_start_s,
            "build_s": base.build_s,
            "convert_s": prepared.convert_s,
            "first_call_s": first_call_s,
            "warmup_iters": warmup.iterations,
            "warmup_s": warmup.seconds,
            **agreement,
            "seed": self.settings.seed,
            "weights": str(self.settings.weights_for(cell.model) or "") or None,
            "lora_rank": prepared.exe.notes.get("lora_rank"),
            "notes": {k: v for k, v in prepared.exe.notes.items() if k not in ("optimizations", "accuracy", "fallbacks")},
            "warnings": sorted(set(prepared.warnings) | set(call_warnings)),
        }


def _load_average() -> float | None:
    """The 1-minute load average right after the timed rounds (None where the OS has none): above the
    cores in use, the rounds shared the CPU with something else."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _norm_time_fields(ratios: list[float], probe_s: list[float]) -> dict[str, Any]:
    """``norm_time`` (median round time over the probe's), its per-round samples and the probe's median."""
    if not ratios:
        return {}
    return {
        "norm_time": float(np.median(ratios)),
        "norm_time_samples": ratios,
        "probe_ms_p50": float(np.median(probe_s)) * 1e3,
    }


def _num(value) -> float | None:
    return None if value is None else float(value)
