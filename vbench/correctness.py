"""Output agreement of an optimized cell with the fp32 eager model on the same inputs.

Elementwise relative error is meaningless near zero logits, so errors are normalised by the
reference's magnitude: ``max_rel_err = max|out - ref| / max|ref|`` and
``mean_rel_err = mean|out - ref| / mean|ref|``. ``top1_agreement`` is the fraction of samples whose
arg-max class is the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

__all__ = ["Agreement", "compare_outputs", "logits_of"]


@dataclass(frozen=True)
class Agreement:
    top1_agreement: float
    max_rel_err: float
    mean_rel_err: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def logits_of(output: Any) -> torch.Tensor:
    """The logits tensor of a model output (a tensor, or the first tensor of a tuple/list/dict)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)) and output:
        return logits_of(output[0])
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


def compare_outputs(output: Any, reference: torch.Tensor) -> Agreement:
    """Compare ``output`` with the fp32 eager ``reference`` logits (same inputs, same order)."""
    out = logits_of(output).detach().float().cpu().reshape(reference.shape[0], -1)
    ref = reference.detach().float().cpu().reshape(reference.shape[0], -1)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {tuple(out.shape)} differs from the reference's {tuple(ref.shape)}")
    diff = (out - ref).abs()
    eps = torch.finfo(torch.float32).tiny
    return Agreement(
        top1_agreement=(out.argmax(dim=1) == ref.argmax(dim=1)).float().mean().item(),
        max_rel_err=(diff.max() / ref.abs().max().clamp_min(eps)).item(),
        mean_rel_err=(diff.mean() / ref.abs().mean().clamp_min(eps)).item(),
    )
