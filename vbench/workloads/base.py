"""What a workload is: the narrow context it gets, the :class:`Step` it builds, and the mode registry.

A workload says what one timed round of a mode does (one forward pass, one optimizer step, sixteen
batches from a DataLoader, one DDP job) and what it measures once around the rounds. The runner
(:mod:`vbench.runner`) drives every mode through the same path; a workload never sees the runner,
only a :class:`WorkloadContext`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from vbench.optimizations.plan import Executable, OptimizationPlan
from vbench.profiles import Cell
from vbench.settings import RunSettings
from vbench.timing import WarmupPolicy

__all__ = ["WorkloadContext", "Step", "Workload", "WORKLOADS", "register_workload", "workload_for"]


@dataclass(frozen=True)
class WorkloadContext:
    """What a workload may use: the cell, the run's settings, the device and its synchronized clock."""

    cell: Cell
    settings: RunSettings
    device: torch.device
    timer: Callable[[], float]


@dataclass(frozen=True)
class Step:
    """The timed work of one measured cell, public so that the regression gate can re-measure it.

    ``call``: one round. ``checked_output()``: the output the correctness guard compares with fp32
    eager. ``eager_call``: one fp32 eager forward on the same input (inference cells; None
    otherwise), the reference of ``rel_time``. ``context``: the autograd context both run in.
    """

    cell: Cell
    call: Callable[[], Any]
    checked_output: Callable[[], Any]
    context: Callable[[], contextlib.AbstractContextManager]
    eager_call: Callable[[], Any] | None = None


class Workload:
    """What one round of a mode does and what it measures around the rounds. The defaults suit a mode
    whose round is one call of the model on one batch; subclasses live in this package, one module per
    mode, and register with :func:`register_workload`."""

    mode = ""
    # Timed rounds fixed by the workload (None: pytest-benchmark's calibration or --benchmark-max-time).
    rounds: int | None = None

    def __init__(self, ctx: WorkloadContext):
        self.ctx = ctx

    def unavailable_reason(self) -> str | None:
        """Why the cell cannot run here beyond its optimization's own reasons (None: it can)."""
        return None

    def context(self) -> contextlib.AbstractContextManager:
        """The autograd context the step runs in."""
        return torch.inference_mode()

    def warmup_policy(self, policy: WarmupPolicy) -> WarmupPolicy:
        """The warm-up to run before timing (the session's, unless the mode warms up on its own)."""
        return policy

    def make_step(self, exe: Executable, xp: torch.Tensor, num_classes: int) -> Callable[[], Any]:
        """The callable one timed round runs, on the prepared input ``xp``."""
        raise NotImplementedError

    def before_timing(self, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        """Fields measured once, after warm-up and before the timed rounds."""
        return {}

    def checked_output(self, exe: Executable, xp: torch.Tensor) -> Any:
        """The output compared with the fp32 eager reference."""
        return exe(xp)

    def eager_call(self, model: torch.nn.Module, x: torch.Tensor) -> Callable[[], Any] | None:
        """One fp32 eager call of the base ``model`` on ``x`` to re-measure the step against (None:
        the mode has no comparable eager call)."""
        return None

    def step_seconds(self, round_s: list[float]) -> list[float]:
        """The seconds the cell's rates come from: its rounds, unless a round holds steps of its own."""
        return round_s

    def batches_per_step(self) -> int:
        """Batches of ``cell.batch_size`` one of those steps processes."""
        return 1

    def flops_factor(self, fields: dict[str, Any]) -> float | None:
        """FLOPs per sample over one forward pass's (None: the step runs no model)."""
        return 1.0

    def after_timing(self, fields: dict[str, Any], samples_per_s: float | None) -> dict[str, Any]:
        """Fields that need the timed rate (``fields``: what :meth:`before_timing` returned)."""
        return {}


# mode -> workload class
WORKLOADS: dict[str, type[Workload]] = {}


def register_workload(mode: str):
    """Class decorator: the workload of cells of ``mode``."""

    def decorate(cls: type[Workload]) -> type[Workload]:
        cls.mode = mode
        WORKLOADS[mode] = cls
        return cls

    return decorate


def workload_for(ctx: WorkloadContext) -> Workload | None:
    """The workload of ``ctx.cell``'s mode, or None when this vbench has none."""
    cls = WORKLOADS.get(ctx.cell.mode)
    return cls(ctx) if cls is not None else None
