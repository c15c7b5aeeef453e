"""Data-loading cells (mode ``data``): decode + augment + collate throughput, and one training epoch
split into waiting for data, host-to-device transfer and compute.

The timed round is fetching :data:`BATCHES_PER_ROUND` batches from a DataLoader with persistent
workers, so ``samples_per_s`` is the pipeline's images/s on its own: a pipeline slower than the model's
training step shows as such when the two cells are read side by side. The cold start is the time to
the first batch (workers starting). Once per cell, before timing, one epoch trains the cell's model on
the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vbench.correctness import logits_of
from vbench.data import build_dataset, build_loader, cycle_batches, epoch_split
from vbench.optimizations.plan import Executable, OptimizationPlan
from vbench.workloads.base import register_workload
from vbench.workloads.train import TrainWorkload

__all__ = ["BATCHES_PER_ROUND", "DataWorkload"]

# One batch per round was bimodal (a batch already prefetched: 2.6 ms; one still being made: 11 ms at
# the 90th percentile), so a 30% slower pipeline moved the median by nothing reliable. Sixteen
# batches are several times the prefetch queue (workers x prefetch_factor, 4 by default): a round's
# time is the pipeline's steady rate.
BATCHES_PER_ROUND = 16


@register_workload("data")
class DataWorkload(TrainWorkload):
    """One batch fetched per round; an epoch of training steps measured before timing."""

    def make_step(self, exe: Executable, xp: torch.Tensor, num_classes: int) -> Callable[[], Any]:
        super().make_step(exe, xp, num_classes)
        cell, settings = self.ctx.cell, self.ctx.settings
        self.xp = xp
        self.dataset = build_dataset(settings.data, cell.img_size, train=True, seed=settings.seed)
        self.loader = build_loader(self.dataset, settings.data, cell.batch_size, xp.device, shuffle=True,
                                   persistent=True, seed=settings.seed)
        batches = cycle_batches(self.loader)

        def fetch() -> None:
            for _ in range(BATCHES_PER_ROUND):
                next(batches)

        return fetch

    def before_timing(self, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        cell, settings, device = self.ctx.cell, self.ctx.settings, self.ctx.device
        with torch.no_grad():
            self.first_logits = logits_of(exe(self.xp)).detach().float().cpu()  # before the epoch trains it
        epoch_loader = build_loader(self.dataset, settings.data, cell.batch_size, device, shuffle=True,
                                    seed=settings.seed)
        split = epoch_split(epoch_loader, self.train_on, device, self.ctx.timer)
        spec = settings.data
        return {
            **split.as_fields(),
            "data_source": str(spec.root) if spec.root else f"synthetic ({len(self.dataset)} uint8 images, no decode)",
            "data_workers": spec.workers,
            "pin_memory": self.loader.pin_memory,
            "optimizer": self.optimizer_name,
            "data_batches_per_round": BATCHES_PER_ROUND,
        }

    def batches_per_step(self) -> int:
        return BATCHES_PER_ROUND

    def flops_factor(self, fields: dict[str, Any]) -> float | None:
        return None  # the timed rounds fetch data: FLOP rates of the model do not apply to them

    def after_timing(self, fields: dict[str, Any], samples_per_s: float | None) -> dict[str, Any]:
        # Unreadable images are dropped from their batch: count the images delivered, at the epoch's share.
        read, skipped = fields.get("epoch_images") or 0, fields.get("data_skipped_images") or 0
        usable = read / (read + skipped) if read + skipped else 1.0
        return {"data_images_per_s": samples_per_s * usable if samples_per_s else None}
