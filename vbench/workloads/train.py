"""Training-step cells (mode ``train``): forward + loss + backward + optimizer step + zero_grad, per round.

Every round does the same work: the same input and labels, the same shapes, optimizer state created
during warm-up (AdamW's moments appear at its first step). Once per cell, before timing, the step is
split into forward, backward and optimizer time (device-synchronized between phases, so this split
is measured separately from the timed rounds), and one step is run under a tensor-memory tracker
for the memory breakdown:

- ``mem_weights_mb``, ``mem_gradients_mb`` (trainable parameters only), ``mem_optimizer_state_mb``:
  sizes of those tensors;
- ``mem_activations_mb``: bytes autograd saved for backward during the forward pass;
- ``mem_optimizer_temporaries_mb``: the most memory ``optimizer.step`` allocates on top of the
  gradients (foreach AdamW builds parameter-sized intermediate lists);
- ``mem_step_peak_mb``: resident weights and optimizer state plus the peak of tensor memory created
  during the step (counted on any device by a TorchDispatchMode); ``mem_breakdown_gap_mb`` is the
  peak minus weights + optimizer state + gradients + the larger of activations and optimizer
  temporaries (backward's own temporaries, mostly);
- on CUDA, ``peak_mem_allocated_mb`` / ``peak_mem_reserved_mb`` from the allocator as for inference.

Compiled modules run their own kernels outside the dispatcher, so their breakdown is left null with
the reason.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from vbench.correctness import logits_of
from vbench.errors import UnknownNameError
from vbench.metrics.tensors import LiveTensorBytes, SavedActivations, tensor_bytes
from vbench.optimizations.plan import Executable, OptimizationPlan, Stage
from vbench.workloads.base import Workload, register_workload

__all__ = ["TRAIN_OPTIMIZERS", "make_optimizer", "TrainWorkload"]

_MB = 1024 * 1024
PHASE_STEPS = 3

TRAIN_OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9),
}


def make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    """The optimizer ``name`` (adamw or sgd with momentum 0.9) over ``params``."""
    try:
        factory = TRAIN_OPTIMIZERS[name]
    except KeyError:
        raise UnknownNameError("optimizer", name, TRAIN_OPTIMIZERS) from None
    return factory(params, lr=lr)


def _labels(batch_size: int, num_classes: int, seed: int, device: torch.device) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed + batch_size)
    return torch.randint(0, num_classes, (batch_size,), generator=generator).to(device)


@register_workload("train")
class TrainWorkload(Workload):
    """One optimizer step per round."""

    def context(self):
        return torch.enable_grad()

    def make_step(self, exe: Executable, xp: torch.Tensor, num_classes: int) -> Callable[[], Any]:
        cell, settings = self.ctx.cell, self.ctx.settings
        module = exe.module
        self.exe = exe
        self.params = [p for p in module.parameters() if p.requires_grad]
        self.all_params = list(module.parameters())
        self.optimizer = make_optimizer(settings.train_optimizer, self.params, settings.lr)
        self.optimizer_name = settings.train_optimizer
        uses_fp16_autocast = exe.notes.get("autocast_dtype") == "float16"
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        self.scaler = torch.amp.GradScaler(xp.device.type) if uses_fp16_autocast else None
        self.first_logits = None
        target = _labels(cell.batch_size, num_classes, settings.seed, xp.device)
        self.forward = lambda: F.cross_entropy(logits_of(exe(xp)).float(), target)

        def step() -> None:
            logits = logits_of(exe(xp))
            if self.first_logits is None:
                self.first_logits = logits.detach().float().cpu()  # before any update: comparable with fp32 eager
            self._backward(F.cross_entropy(logits.float(), target))
            self._update()

        return step

    def train_on(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        """One optimizer step on a real batch (the data pipeline's epoch)."""
        with self.exe.context():
            logits = logits_of(self.exe.module(self.exe.prepare(images)))
        self._backward(F.cross_entropy(logits.float(), labels))
        self._update()

    def _backward(self, loss: torch.Tensor) -> None:
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def _update(self) -> None:
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def before_timing(self, exe: Executable, plan: OptimizationPlan) -> dict[str, Any]:
        fields = self._phase_split()
        compiled = any(p.stage == Stage.COMPILE for p in plan.parts)
        fields.update(self._memory_breakdown(compiled))
        trainable = sum(p.numel() for p in self.params)
        total = sum(p.numel() for p in self.all_params)
        # Full fine-tuning keeps two fp32 moments (AdamW) or one momentum buffer (SGD) per parameter.
        per_param = 8 if self.optimizer_name == "adamw" else 4
        fields.update(
            optimizer=self.optimizer_name,
            lr=self.optimizer.param_groups[0]["lr"],
            trainable_pct=100.0 * trainable / total if total else None,
            optimizer_state_full_ft_mb=total * per_param / _MB,
            optimizer_state_saved_mb=(total - trainable) * per_param / _MB,
            grad_scaler=self.scaler is not None,
        )
        # Backward costs about twice the forward when weights train (input and weight gradients),
        # about once when they are frozen (LoRA: input gradients only, plus small adapters).
        fields["train_flops_factor"] = 3.0 if fields["trainable_pct"] is None or fields["trainable_pct"] > 50 else 2.0
        return fields

    def _phase_split(self) -> dict[str, Any]:
        phases: dict[str, list[float]] = {"forward": [], "backward": [], "optimizer": []}
        timer = self.ctx.timer
        for _ in range(PHASE_STEPS):
            t0 = timer()
            loss = self.forward()
            t1 = timer()
            self._backward(loss)
            t2 = timer()
            self._update()
            t3 = timer()
            for name, seconds in zip(phases, (t1 - t0, t2 - t1, t3 - t2)):
                phases[name].append(seconds)
        return {f"{name}_ms": statistics.median(v) * 1e3 for name, v in phases.items()}

    def _memory_breakdown(self, compiled: bool) -> dict[str, Any]:
        weights = tensor_bytes(self.all_params)
        grads = sum(p.numel() * p.element_size() for p in self.params)
        state = tensor_bytes(t for s in self.optimizer.state.values() for t in s.values() if torch.is_tensor(t))
        fields: dict[str, Any] = {
            "mem_weights_mb": weights / _MB,
            "mem_gradients_mb": grads / _MB,
            "mem_optimizer_state_mb": state / _MB,
            "mem_activations_mb": None,
            "mem_optimizer_temporaries_mb": None,
            "mem_step_peak_mb": None,
            "mem_breakdown_gap_mb": None,
            "mem_breakdown_note": "",
        }
        if compiled:
            fields["mem_breakdown_note"] = "compiled kernels bypass the dispatcher: activations and step peak not counted"
            return fields
        tracker = LiveTensorBytes()
        with SavedActivations(self.all_params) as saved, tracker:
            self._backward(self.forward())
        forward_backward_peak = tracker.peak
        tracker.reset_peak()
        grads_live = tracker.live
        with tracker:
            self._update()
        optimizer_temporaries = max(tracker.peak - grads_live, 0)
        peak = weights + state + max(forward_backward_peak, tracker.peak)
        # The step's peak is either late in backward (activations not yet freed, gradients written)
        # or inside optimizer.step (gradients plus the optimizer's temporaries).
        explained = weights + state + grads + max(saved.bytes, optimizer_temporaries)
        fields.update(
            mem_activations_mb=saved.bytes / _MB,
            mem_optimizer_temporaries_mb=optimizer_temporaries / _MB,
            mem_step_peak_mb=peak / _MB,
            mem_breakdown_gap_mb=(peak - explained) / _MB,
            mem_breakdown_note="tensor bytes counted by a TorchDispatchMode during one step",
        )
        return fields

    def checked_output(self, exe: Executable, xp: torch.Tensor) -> Any:
        return self.first_logits

    def flops_factor(self, fields: dict[str, Any]) -> float | None:
        return fields["train_flops_factor"]
