"""The models a session measures, built once and reused: the fp32 eager base model of one (model,
image size), the optimization applied to a copy of it, and the fp32 eager reference outputs.

The base is kept for every batch size that follows and the optimized copy too (static-shape backends
build per batch size); when the next cell needs another model, the old one is dropped and device
memory is freed.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from vbench.correctness import logits_of
from vbench.metrics import FlopCount, count_flops, free_memory
from vbench.models import create_model, resolve_model
from vbench.optimizations.plan import Executable, OptContext, OptimizationPlan, tf32_allowed
from vbench.profiles import Cell
from vbench.settings import RunSettings
from vbench.timing import device_timer, synchronize

__all__ = ["BaseModel", "PreparedModel", "ModelCache", "make_input", "warning_lines"]


def make_input(batch_size: int, img_size: int, in_chans: int, seed: int, device: torch.device) -> torch.Tensor:
    """A seeded random image batch, drawn on the CPU (identical on every device) then moved once."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + batch_size * 1009 + img_size)
    return torch.randn(batch_size, in_chans, img_size, img_size, generator=generator).to(device)


def warning_lines(caught: list[warnings.WarningMessage]) -> list[str]:
    """Each caught warning once, as ``Category: first line``, sorted."""
    lines = {f"{w.category.__name__}: {str(w.message).splitlines()[0]}" for w in caught}
    return sorted(lines)


@dataclass
class BaseModel:
    """The fp32 eager model of one (model, image size) on the device, and what was measured building it."""

    key: tuple[str, int]
    model: nn.Module
    family: str
    in_chans: int
    build_s: float
    flops: FlopCount
    references: dict[tuple[str, int], torch.Tensor] = field(default_factory=dict)  # (mode, batch) -> logits


@dataclass
class PreparedModel:
    """An optimization applied to a copy of a base model: the executable, its build time and warnings."""

    key: tuple[str, int, str, str, int | None]
    plan: OptimizationPlan
    exe: Executable
    convert_s: float
    warnings: list[str]


class ModelCache:
    """The base and the optimized model of the cell measured last, for one session on one device."""

    def __init__(self, settings: RunSettings):
        self.settings = settings
        self.device = settings.device
        self.timer = device_timer(self.device)
        self.base: BaseModel | None = None
        self.prepared: PreparedModel | None = None
        self._flops: dict[tuple[str, int], FlopCount] = {}

    def base_for(self, cell: Cell) -> BaseModel:
        """The fp32 eager model of ``cell``'s (model, image size), built once and kept until the next model."""
        key = (cell.model, cell.img_size)
        if self.base is not None and self.base.key == key:
            return self.base
        self.release()
        entry = resolve_model(cell.model)
        start = time.perf_counter()
        model = create_model(cell.model, img_size=cell.img_size, weights=self.settings.weights_for(cell.model),
                             seed=self.settings.seed)
        model = model.to(self.device)
        synchronize(self.device)
        build_s = time.perf_counter() - start
        if key not in self._flops:
            example = make_input(1, cell.img_size, entry.in_chans, self.settings.seed, self.device)
            self._flops[key] = count_flops(model, example)
        self.base = BaseModel(key, model, entry.family, entry.in_chans, build_s, self._flops[key])
        return self.base

    def prepare(self, cell: Cell, base: BaseModel, plan: OptimizationPlan, example: torch.Tensor) -> PreparedModel:
        """``plan`` applied to a copy of ``base`` for ``cell``'s mode, kept for the following batch sizes.

        Training cells get the copy in train mode with autograd on; inference cells with it off
        (tracers and exporters need autograd-free, not inference-mode, tensors).
        """
        # Static-shape backends (exported graphs, ONNX sessions, TensorRT engines) build per batch size.
        key = (cell.model, cell.img_size, cell.optimization, cell.mode, cell.batch_size if plan.static_shapes else None)
        if self.prepared is not None and self.prepared.key == key:
            return self.prepared
        self.prepared = None
        free_memory(self.device)
        training = cell.mode != "inference"
        ctx = OptContext(self.device, cell.mode, example, self.settings.compile_mode, base.family, self.settings)
        with warnings.catch_warnings(record=True) as caught, torch.set_grad_enabled(training):
            warnings.simplefilter("always")
            start = self.timer()
            exe = plan.apply(copy.deepcopy(base.model).train(training), ctx)
            convert_s = self.timer() - start
        self.prepared = PreparedModel(key, plan, exe, convert_s, warning_lines(caught))
        return self.prepared

    def reference(self, base: BaseModel, x: torch.Tensor, mode: str = "inference") -> torch.Tensor:
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

    def release(self) -> None:
        """Drop the cached models and free their memory (between models, after an OOM, at the end)."""
        self.prepared = None
        self.base = None
        free_memory(self.device)
