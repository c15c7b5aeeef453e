"""Output agreement of an optimized cell with the fp32 eager model on the same inputs, and the guard.

Elementwise relative error is meaningless near zero logits, so errors are normalised by the
reference's magnitude: ``max_rel_err = max|out - ref| / max|ref|`` and
``mean_rel_err = mean|out - ref| / mean|ref|``. ``top1_agreement`` is the fraction of samples whose
arg-max class is the same.

The guard judges relative error, not top-1 agreement. The models are random-initialised, so their
logits are near-ties: on the smoke models at 64 px the median gap between the two largest logits
is 2-6 % of the largest logit, and a bf16 cast flips the top-1 class of up to 10 % of the samples
while its logits stay within 1.5 % of fp32. ``top1_agreement`` is recorded as measured;
``top1_agreement_clear`` counts only the samples whose reference margin exceeds twice the
tolerated absolute error (``2 * max_rel_err tolerance * max|ref|``), the only samples on which a
flipped class proves an error beyond tolerance. ``min_top1`` (off by default) adds a floor on raw
top-1 agreement for runs with real weights (``--vb-weights``), where margins are wide.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import torch

from vbench.errors import VBenchError

__all__ = [
    "Agreement",
    "Tolerance",
    "DEFAULT_TOLERANCES",
    "CorrectnessError",
    "compare_outputs",
    "logits_of",
    "parse_tolerances",
    "check_agreement",
]


@dataclass(frozen=True)
class Agreement:
    top1_agreement: float
    max_rel_err: float
    mean_rel_err: float
    top1_agreement_clear: float | None = None
    top1_clear_samples: int | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class Tolerance:
    """How far a cell of one precision class may be from fp32 eager and still count as correct."""

    max_rel_err: float
    mean_rel_err: float
    min_top1: float | None = None  # floor on raw top-1 agreement; None: not checked

    def __post_init__(self):
        if not (self.max_rel_err >= 0 and self.mean_rel_err >= 0):
            raise VBenchError("tolerances must be >= 0")
        if self.min_top1 is not None and not 0 <= self.min_top1 <= 1:
            raise VBenchError("a top-1 agreement floor must be between 0 and 1")


# Measured on the five smoke models at 64 px, batch 32, CPU (docs/backends.md, "Tolerances"): fp32 backends
# (channels_last, torch.export, ONNX Runtime) <= 1.1e-6; bf16 cast/autocast <= 1.5e-2; int8 dynamic
# quantization of Linear layers <= 3.5e-2 (torchao) and <= 5e-2 (torch.ao, per-channel). A weight
# perturbation of 0.1 % of each tensor's std already gives 2-4e-3, so fp32 stays tight.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(1e-3, 1e-3),  # headroom for GPU kernel reordering (~1e-5)
    "tf32": Tolerance(1e-2, 1e-2),  # 10-bit mantissa: ~8x tighter than bf16
    "bf16": Tolerance(5e-2, 5e-2),  # 3x the worst measured; larger models at 224 px accumulate more
    "fp16": Tolerance(5e-2, 5e-2),
    "int8": Tolerance(1.5e-1, 1.5e-1),  # 3x the worst measured (swin, per-channel torch.ao)
}


class CorrectnessError(AssertionError):
    """An optimized cell outside its tolerance; ``result`` holds the cell's measured extra_info."""

    def __init__(self, message: str, result: dict[str, Any] | None = None):
        super().__init__(message)
        self.result = result or {}


def logits_of(output: Any) -> torch.Tensor:
    """The logits tensor of a model output (a tensor, or the first tensor of a tuple/list/dict)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)) and output:
        return logits_of(output[0])
    raise TypeError(f"cannot find logits in a model output of type {type(output).__name__}")


def compare_outputs(output: Any, reference: torch.Tensor, tolerance: Tolerance | None = None) -> Agreement:
    """Compare ``output`` with the fp32 eager ``reference`` logits (same inputs, same order).

    With ``tolerance``, also the top-1 agreement on the samples whose reference margin is clear
    of that tolerance (see the module docstring).
    """
    out = logits_of(output).detach().float().cpu().reshape(reference.shape[0], -1)
    ref = reference.detach().float().cpu().reshape(reference.shape[0], -1)
    if out.shape != ref.shape:
        raise ValueError(f"output shape {tuple(out.shape)} differs from the reference's {tuple(ref.shape)}")
    diff = (out - ref).abs()
    eps = torch.finfo(torch.float32).tiny
    ref_max = ref.abs().max().clamp_min(eps)
    agree = out.argmax(dim=1) == ref.argmax(dim=1)
    clear_frac, clear_n = None, None
    if tolerance is not None and ref.shape[1] > 1:
        top2 = ref.topk(2, dim=1).values
        clear = (top2[:, 0] - top2[:, 1]) > 2 * tolerance.max_rel_err * ref_max
        clear_n = int(clear.sum())
        clear_frac = agree[clear].float().mean().item() if clear_n else None
    return Agreement(
        top1_agreement=agree.float().mean().item(),
        max_rel_err=(diff.max() / ref_max).item(),
        mean_rel_err=(diff.mean() / ref.abs().mean().clamp_min(eps)).item(),
        top1_agreement_clear=clear_frac,
        top1_clear_samples=clear_n,
    )


_FIELDS = ("max_rel_err", "mean_rel_err", "min_top1")


def parse_tolerances(text: str | None) -> dict[str, Tolerance] | None:
    """Parse ``--vb-tolerance`` into per-class tolerances; None means the guard is off.

    ``text`` is empty (the defaults), ``off``, or comma-separated ``KEY=VALUE`` items where KEY is
    ``CLASS`` (sets max_rel_err and mean_rel_err), ``CLASS.FIELD`` (FIELD: max_rel_err,
    mean_rel_err, min_top1) and CLASS is a precision class or ``*`` for all of them, e.g.
    ``bf16=0.08,int8.min_top1=0.9``. Raises :class:`VBenchError` on anything else.
    """
    tolerances = dict(DEFAULT_TOLERANCES)
    if text is None or not text.strip():
        return tolerances
    if text.strip().lower() == "off":
        return None
    for item in (p.strip() for p in text.split(",") if p.strip()):
        key, sep, value_text = item.partition("=")
        cls, _, fld = key.strip().partition(".")
        if not sep or (cls not in tolerances and cls != "*") or (fld and fld not in _FIELDS):
            raise VBenchError(
                f"--vb-tolerance item {item!r}: expected CLASS=VALUE or CLASS.FIELD=VALUE with CLASS one of "
                f"{', '.join(tolerances)} or *, FIELD one of {', '.join(_FIELDS)}; or 'off'"
            )
        try:
            value = float(value_text)
        except ValueError:
            raise VBenchError(f"--vb-tolerance item {item!r}: {value_text!r} is not a number") from None
        changes = {fld: value} if fld else {"max_rel_err": value, "mean_rel_err": value}
        for name in tolerances if cls == "*" else (cls,):
            tolerances[name] = replace(tolerances[name], **changes)
    return tolerances


def check_agreement(agreement: Agreement, precision: str, tolerances: dict[str, Tolerance] | None) -> str | None:
    """The failure message when ``agreement`` is outside the tolerance of ``precision``, else None."""
    if tolerances is None:
        return None
    tol = tolerances[precision]
    problems = []
    if not agreement.max_rel_err <= tol.max_rel_err:  # NaN fails too
        problems.append(f"max_rel_err {agreement.max_rel_err:.3g} > {tol.max_rel_err:g}")
    if not agreement.mean_rel_err <= tol.mean_rel_err:
        problems.append(f"mean_rel_err {agreement.mean_rel_err:.3g} > {tol.mean_rel_err:g}")
    if tol.min_top1 is not None and not agreement.top1_agreement >= tol.min_top1:
        problems.append(f"top1_agreement {agreement.top1_agreement:.3f} < {tol.min_top1:g}")
    if not problems:
        return None
    clear = (
        f", {agreement.top1_agreement_clear:.3f} on {agreement.top1_clear_samples} clear-margin samples"
        if agreement.top1_agreement_clear is not None else ""
    )
    return (
        f"outside the {precision} tolerance vs fp32 eager: {'; '.join(problems)} "
        f"(top1_agreement {agreement.top1_agreement:.3f}{clear}; change with --vb-tolerance {precision}=VALUE)"
    )
