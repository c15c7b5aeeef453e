"""Runs one cell: build (cached), optimize, cold start, warm up, time through pytest-benchmark, check,
and return a :class:`~vbench.result.CellResult`.

One code path serves every model, optimization and mode: what a round does per mode is the
workload's (:mod:`vbench.workloads`), which models are kept is the model cache's
(:mod:`vbench.model_cache`), and the flat ``extra_info`` is the result's (:mod:`vbench.result`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import torch
from torch import nn

from vbench.correctness import CorrectnessError, check_agreement, compare_outputs
from vbench.metrics.fallbacks import DynamoWatch, compile_cache_counts, compile_cache_state, fallback_fields
from vbench.interleave import TurnClient
from vbench.machine import gpu_names
from vbench.metrics import PeakMemory, count_params
from vbench.metrics.registry import MetricInput, collected_metrics
from vbench.metrics.telemetry import Telemetry
from vbench.model_cache import BaseModel, ModelCache, PreparedModel, make_input, warning_lines
from vbench.optimizations.plan import OptimizationPlan, Stage, resolve_plan
from vbench.profiles import Cell
from vbench.result import CellResult, ColdStart
from vbench.settings import RunSettings
from vbench.timing import time_call, timed_rounds, warm_up
from vbench.metrics.trace import trace_step
from vbench.workloads import Step, Workload, WorkloadContext, workload_for

__all__ = ["CellSkipped", "CellRunner", "make_input", "is_out_of_memory"]

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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class CellRunner:
    """Measures cells for one session on one device (see :meth:`run`)."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.device = settings.device
        self.models = ModelCache(settings)
        self.timer = self.models.timer
        self._gpu_name = gpu_names()[self.device.index or 0] if self.device.type == "cuda" else None
        self.telemetry = Telemetry(settings.telemetry, settings.telemetry_interval_s)
        # Taking turns with another session (vbench ab): connected once, for the whole session.
        self.turns = TurnClient(settings.interleave) if settings.interleave else None
        self.probe = None
        if settings.probe:  # timed before every round: each round's norm_time sample (vbench.timing)
            from vbench.metrics.probe import machine_probe

            self.probe = machine_probe(self.device)
        self._last_step: Step | None = None

    def release(self) -> None:
        """Drop the cached models and the last step (its closure holds them too) and free their memory."""
        self._last_step = None
        self.models.release()

    def last_step(self, cell: Cell) -> Step:
        """The :class:`~vbench.workloads.Step` of ``cell``, the cell this runner measured last (the
        regression gate re-measures it in the same process). Raises RuntimeError for any other cell."""
        if self._last_step is None or self._last_step.cell != cell:
            raise RuntimeError(f"{cell.id} is not the cell this runner measured last")
        return self._last_step

    # -- measuring ----------------------------------------------------------------------------

    def run(self, cell: Cell, benchmark) -> CellResult:
        """Measure ``cell`` with pytest-benchmark's ``benchmark`` fixture and return its result.

        Raises :class:`CellSkipped` when the cell cannot run here (device, missing package,
        failed compilation, out of memory); the caller turns it into a pytest skip. Raises
        :class:`~vbench.correctness.CorrectnessError` when the outputs are outside the tolerance of
        the cell's precision class; the cell is then kept out of the saved JSON.
        """
        workload = workload_for(WorkloadContext(cell, self.settings, self.device, self.timer))
        if workload is None:
            raise CellSkipped(f"mode {cell.mode!r} has no runner in this version of vbench")
        plan = resolve_plan(cell.optimization)
        reason = plan.unavailable_reason(self.device, cell.mode) or workload.unavailable_reason()
        if reason:
            raise CellSkipped(reason)
        try:
            result, failure = self._run(cell, plan, benchmark, workload)
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
            raise CorrectnessError(f"{cell.id}: {failure}", result.to_extra_info())
        return result

    def _build(self, cell: Cell) -> tuple[BaseModel, torch.Tensor, torch.Tensor]:
        """The base model, the cell's input and its fp32 eager reference; a model that cannot run at
        this size in fp32 eager skips the cell."""
        try:
            with torch.no_grad():
                base = self.models.base_for(cell)
                x = make_input(cell.batch_size, cell.img_size, base.in_chans, self.settings.seed, self.device)
                reference = self.models.reference(base, x, "inference" if cell.mode == "inference" else "train")
        except (RuntimeError, ValueError, AssertionError) as exc:  # the model itself, fp32 eager, fails here
            if is_out_of_memory(exc) or not self._runs_at_own_size(cell):
                raise  # a broken model fails its cells: only a size the model cannot take is a skip
            self.release()  # e.g. a 16 px patch embedding given 8 px images
            raise CellSkipped(f"{cell.model} (fp32 eager) cannot run at {cell.img_size}px: {_first_line(exc)}") from None
        return base, x, reference

    def _runs_at_own_size(self, cell: Cell) -> bool:
        """Whether ``cell``'s model runs fp32 eager at its default image size (two samples, as batch norm
        in training needs): then the cell's size, not the model, is what failed."""
        from vbench.models import create_model, resolve_model

        size = resolve_model(cell.model).default_img_size
        if size == cell.img_size:
            return False
        try:
            with torch.no_grad():
                model = create_model(cell.model, img_size=size, seed=self.settings.seed).to(self.device)
                model.train(cell.mode != "inference")(make_input(2, size, resolve_model(cell.model).in_chans,
                                                                 self.settings.seed, self.device))
        except Exception:
            return False
        finally:
            self.release()
        return True

    def _first_call(self, cell: Cell, plan: OptimizationPlan, workload: Workload, base: BaseModel, x: torch.Tensor,
                    num_classes: int) -> tuple[PreparedModel, Step, float, list[str]]:
        """Optimize (cached), build the step and make its first call: the end of the cold start."""
        compiles = any(p.stage == Stage.COMPILE for p in plan.parts)
        try:
            prepared = self.models.prepare(cell, base, plan, x)
            exe = prepared.exe
            with workload.context():
                xp = exe.prepare(x)
                call = workload.make_step(exe, xp, num_classes)
                step = Step(cell, call, lambda: workload.checked_output(exe, xp), workload.context,
                            workload.eager_call(base.model, x))
                self._last_step = step
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    torch.manual_seed(self.settings.seed)  # its output is checked against the seeded reference
                    first_call_s = time_call(call, self.timer)
        except Exception as exc:
            if compiles and not is_out_of_memory(exc):
                self.models.prepared = None
                raise CellSkipped(f"{cell.optimization} failed for {cell.model}: {_first_line(exc)}") from None
            raise
        return prepared, step, first_call_s, warning_lines(caught)

    def _run(self, cell: Cell, plan: OptimizationPlan, benchmark, workload: Workload) -> tuple[CellResult, str | None]:
        """The one measurement path: build, optimize, cold start, warm up, time, check.

        Returns the cell's result and the correctness guard's failure message (None when correct).
        """
        if self.turns:  # build, convert, first call and warm-up alone too: cold_start_s is gated
            self.turns.before_round(f"{cell.id} cold start")
        base, x, reference = self._build(cell)
        compiles = any(p.stage == Stage.COMPILE for p in plan.parts)
        watch, cache_before = DynamoWatch.start(), compile_cache_counts()
        prepared, step, first_call_s, call_warnings = self._first_call(cell, plan, workload, base, x,
                                                                       reference.shape[-1])
        settings = self.settings
        with step.context():
            warmup = warm_up(step.call, workload.warmup_policy(settings.warmup), self.timer)
            mode_fields = workload.before_timing(prepared.exe, prepared.plan)
            with PeakMemory(self.device) as memory, self.telemetry.sampler(self.device) as telemetry:
                rounds = timed_rounds(benchmark, step.call, cell_id=cell.id, turns=self.turns, probe=self.probe,
                                      timer=self.timer, estimate_s=warmup.seconds / max(warmup.iterations, 1),
                                      rounds=workload.rounds)
            load_avg = _load_average()
            dynamo = watch.delta()
            precision = self._precision(plan)
            tolerance = settings.tolerances[precision] if settings.tolerances else None
            output = step.checked_output()
            agreement = compare_outputs(output, reference, tolerance)
            traced = self._trace(cell, step)
        round_s = list(benchmark.stats.stats.data if benchmark.stats else [])
        total, trainable = self._params(prepared, base)
        failure = check_agreement(agreement, precision, settings.tolerances)
        result = CellResult(
            cell=cell, family=base.family, device=str(self.device), precision=precision, gpu_name=self._gpu_name,
            round_s=round_s, step_s=workload.step_seconds(round_s), batches_per_step=workload.batches_per_step(),
            flops_gmacs=base.flops.gmacs, flops_ignored_ops=tuple(base.flops.ignored_ops),
            flops_factor=workload.flops_factor(mode_fields), params=total, trainable_params=trainable,
            memory=memory.sample, cold_start=ColdStart(base.build_s, prepared.convert_s, first_call_s),
            warmup_iters=warmup.iterations, warmup_s=warmup.seconds, agreement=agreement.as_dict(),
            seed=settings.seed, weights=str(settings.weights_for(cell.model) or "") or None,
            notes=dict(prepared.exe.notes), warnings=sorted(set(prepared.warnings) | set(call_warnings)),
            norm_time_samples=rounds.norm_time_samples(round_s), probe_s=rounds.probe_s,
            load_avg_1m=load_avg, threads=torch.get_num_threads() if self.device.type == "cpu" else None,
            fallbacks=fallback_fields(prepared.exe.notes, dynamo),
            compile_cache=compile_cache_state(cache_before, compile_cache_counts()) if compiles else None,
            tolerance_max_rel_err=tolerance.max_rel_err if tolerance else None,
            correctness="ok" if tolerance and not failure else (failure or "not checked (--vb-tolerance off)"),
            trace_file=str(traced.path) if traced and traced.path else None,
            trace_top_ops=traced.top_ops if traced and traced.top_ops else None,
        )
        result.mode_fields = {**mode_fields, **workload.after_timing(mode_fields, result.samples_per_s)}
        per_sample_ms = result.latency_ms_per_sample
        result.telemetry = telemetry.fields(per_sample_ms / 1e3 if per_sample_ms is not None else None)
        result.metrics = self._registered_metrics(cell, prepared, output, result)
        return result, failure

    @staticmethod
    def _params(prepared: PreparedModel, base: BaseModel) -> tuple[int, int]:
        # The module as run: LoRA adds adapters and freezes the rest; a frozen TorchScript module has
        # its weights folded into constants, so it falls back to the eager model's count.
        module = prepared.exe.module
        total, trainable = count_params(module) if isinstance(module, nn.Module) else (0, 0)
        return (total, trainable) if total else count_params(base.model)

    @staticmethod
    def _registered_metrics(cell: Cell, prepared: PreparedModel, output: Any, result: CellResult) -> dict[str, Any]:
        """The metrics registered with a function (:func:`vbench.metrics.register_metric`), for this cell."""
        specs = collected_metrics()
        if not specs:
            return {}
        given = MetricInput(cell, prepared.exe.module, output, result.to_extra_info())
        return {spec.name: spec.collect(given) for spec in specs}

    def _precision(self, plan: OptimizationPlan) -> str:
        precision = plan.precision
        if precision == "fp32" and torch.backends.cuda.matmul.allow_tf32 and self.device.type == "cuda":
            return "tf32"
        return precision

    def _trace(self, cell: Cell, step: Step):
        if self.settings.trace_dir is None and not self.settings.trace_top:
            return None
        return trace_step(step.call, cell.id, self.device, out_dir=self.settings.trace_dir, top=self.settings.trace_top)


def _load_average() -> float | None:
    """The 1-minute load average right after the timed rounds (None where the OS has none): above the
    cores in use, the rounds shared the CPU with something else."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None
