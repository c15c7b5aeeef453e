"""Inference cells: one forward pass of a batch per round, under ``torch.inference_mode()``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vbench.optimizations.plan import Executable, OptimizationPlan
from vbench.workloads.base import Workload, register_workload

__all__ = ["InferenceWorkload"]


@register_workload("inference")
class InferenceWorkload(Workload):
    """One forward pass per round; accuracy over ``--vb-data`` measured once when weights are given."""

    def make_step(self, exe: Executable, xp: torch.Tensor, num_classes: int) -> Callable[[], Any]:
        return lambda: exe(xp)

    def eager_call(self, model: torch.nn.Module, x: torch.Tensor) -> Callable[[], Any]:
        return lambda: model(x)

    def before_timing(self, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        """Accuracy over ``--vb-data`` when the model has ``--vb-weights`` (null otherwise, never
        invented), computed once per optimized model with the optimized model itself."""
        cell, settings, device = self.ctx.cell, self.ctx.settings, self.ctx.device
        fields = {"accuracy_top1": None, "accuracy_top5": None}
        if settings.data.root is None or settings.weights_for(cell.model) is None:
            return fields
        if "accuracy" not in exe.notes:
            from vbench.data import accuracy, build_dataset, build_loader

            dataset = build_dataset(settings.data, cell.img_size, train=False, seed=settings.seed)
            loader = build_loader(dataset, settings.data, cell.batch_size, device, shuffle=False)
            exe.notes["accuracy"] = accuracy(exe, loader, device, exe.prepare)
        return {**fields, **exe.notes["accuracy"]}
