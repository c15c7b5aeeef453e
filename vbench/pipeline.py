"""Data-loading cells (mode ``data``): decode + augment + collate throughput, and one training epoch
split into waiting for data, host-to-device transfer and compute.

The timed round is fetching one batch from a DataLoader with persistent workers, so ``samples_per_s``
is the pipeline's images/s on its own: a pipeline slower than the model's training step shows as such
when the two cells are read side by side. The cold start is the time to the first batch (workers
starting). Once per cell, before timing, one epoch trains the cell's model on the same data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vbench.data import build_dataset, build_loader, cycle_batches, epoch_split
from vbench.optimize import Executable, OptimizationPlan
from vbench.profiles import Cell
from vbench.runner import WORKLOADS, CellRunner
from vbench.settings import RunSettings
from vbench.training import TrainWorkload

__all__ = ["DataWorkload"]


class DataWorkload(TrainWorkload):
    """One batch fetched per round; an epoch of training steps measured before timing."""

    def make_step(self, exe: Executable, xp: torch.Tensor, cell: Cell, settings: RunSettings,
                  num_classes: int) -> Callable[[], Any]:
        super().make_step(exe, xp, cell, settings, num_classes)
        self.cell, self.settings, self.xp = cell, settings, xp
        self.dataset = build_dataset(settings.data, cell.img_size, train=True, seed=settings.seed)
        loader = build_loader(self.dataset, settings.data, cell.batch_size, xp.device, shuffle=True,
                              persistent=True, seed=settings.seed)
        self.loader = loader
        batches = cycle_batches(loader)
        return lambda: next(batches)

    def before_timing(self, runner: CellRunner, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        with torch.no_grad():
            from vbench.correctness import logits_of

            self.first_logits = logits_of(exe(self.xp)).detach().float().cpu()  # before the epoch trains it
        epoch_loader = build_loader(self.dataset, self.settings.data, self.cell.batch_size, runner.device,
                                    shuffle=True, seed=self.settings.seed)
        split = epoch_split(epoch_loader, self.train_on, runner.device, runner.timer)
        spec = self.settings.data
        return {
            **split.as_fields(),
            "data_source": str(spec.root) if spec.root else f"synthetic ({len(self.dataset)} uint8 images, no decode)",
            "data_workers": spec.workers,
            "pin_memory": self.loader.pin_memory,
            "optimizer": self.optimizer_name,
        }

    def adjust(self, result: dict[str, Any]) -> None:
        # The timed rounds fetch data: FLOP rates of the model do not apply to them.
        result["tflops_achieved"] = result["mfu"] = None
        result["data_images_per_s"] = result["samples_per_s"]


WORKLOADS["data"] = DataWorkload
