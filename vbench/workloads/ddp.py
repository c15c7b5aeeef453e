"""DDP cells (mode ``ddp``): the eager training step on every visible GPU against one GPU.

One timed round is one torchrun job of :mod:`vbench.distributed` on N processes (its first call is the
cold start, no warm-up: each job warms up its own steps). The cell's rates come from the job's
per-step times (a step lasts as long as its slowest rank) and its global batch; before timing, the
same job on one GPU gives ``samples_per_s_1gpu`` and with it ``scaling_efficiency``. Rank 0 runs the
runner's input with the runner's seed, so its first step's logits pass the same correctness guard as
a training cell, and the fallback fields are the runner's. The batch size is per GPU (weak scaling).
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from vbench.distributed import launch, logits_file, scaling_efficiency
from vbench.optimizations.plan import Executable, OptimizationPlan
from vbench.profiles import Cell
from vbench.timing import WarmupPolicy
from vbench.workloads.base import Workload, register_workload

__all__ = ["DDPWorkload", "ddp_cells"]

STATS_MEASURE = "pytest-benchmark stats: wall time of the whole torchrun launch (one round)"


def ddp_cells(cells: Iterable[Cell]) -> list[Cell]:
    """One DDP cell per (model, image size, batch size) of the eager training cells of ``cells``."""
    keys = dict.fromkeys((c.model, c.img_size, c.batch_size) for c in cells
                         if c.mode == "train" and c.optimization == "eager")
    return [Cell("ddp", model, img_size, "eager", batch_size) for model, img_size, batch_size in keys]


@register_workload("ddp")
class DDPWorkload(Workload):
    """One torchrun job of N ranks per round."""

    rounds = 1
    steps = 10  # timed steps per job
    warmup_steps = 3  # steps each job runs before its timed ones

    def world_size(self) -> int:
        """Ranks of the timed job: every visible GPU of a CUDA session."""
        return torch.cuda.device_count() if self.ctx.device.type == "cuda" else 0

    def unavailable_reason(self) -> str | None:
        if importlib.util.find_spec("torch.distributed.run") is None:
            return "torchrun (torch.distributed.run) is missing from this torch build"
        ranks = self.world_size()
        if ranks < 2:
            return (f"DDP cells need at least 2 GPUs (found {ranks} on device {self.ctx.device}); "
                    "tests/test_distributed.py runs this path on CPU with gloo")
        return None

    def context(self):
        return torch.enable_grad()

    def warmup_policy(self, policy: WarmupPolicy) -> WarmupPolicy:
        return WarmupPolicy(min_iters=0, min_time_s=0.0, max_iters=0)

    def _launch(self, ranks: int, out: Path) -> dict[str, Any]:
        cell, settings = self.ctx.cell, self.ctx.settings
        return launch(cell.model, cell.img_size, cell.batch_size, ranks, steps=self.steps, warmup=self.warmup_steps,
                      seed=settings.seed, out=out, tf32=settings.tf32)

    def make_step(self, exe: Executable, xp: torch.Tensor, num_classes: int) -> Callable[[], Any]:
        self.folder = tempfile.TemporaryDirectory(prefix="vbench-ddp-")  # removed with the workload
        self.out = Path(self.folder.name) / "job.json"
        self.ranks = self.world_size()

        def job() -> None:
            self.job = self._launch(self.ranks, self.out)

        return job

    def before_timing(self, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        one = self._launch(1, Path(self.folder.name) / "one.json")
        return {"world_size": self.ranks, "samples_per_s_1gpu": one["samples_per_s"],
                "step_ms_p50_1gpu": one["step_ms_p50"], "stats_measure": STATS_MEASURE}

    def checked_output(self, exe: Executable, xp: torch.Tensor) -> Any:
        return torch.load(logits_file(self.out))

    def step_seconds(self, round_s: list[float]) -> list[float]:
        return list(self.job["step_s"])

    def batches_per_step(self) -> int:
        return self.ranks

    def flops_factor(self, fields: dict[str, Any]) -> float | None:
        return 3.0  # full training: backward about twice the forward

    def after_timing(self, fields: dict[str, Any], samples_per_s: float | None) -> dict[str, Any]:
        job = self.job
        return {
            "scaling_efficiency": scaling_efficiency(job["samples_per_s"], fields["samples_per_s_1gpu"], self.ranks),
            "step_ms_p50": job["step_ms_p50"],
            "rank_skew_ms_p50": job["rank_skew_ms_p50"],
            "backend": job["backend"],
            "gpu_name": job["gpu_name"],
        }
