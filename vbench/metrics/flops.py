"""Multiply-adds per sample with fvcore, counting the attention fvcore skips by default.

fvcore counts one fused multiply-add as one "flop", so its total is MACs; ``gflops`` in the result is
2 x GMACs and says so. Modern timm transformers call ``F.scaled_dot_product_attention``, which fvcore
does not know and would silently count as zero: the two attention matmuls (Q @ K^T and P @ V) are
real work, so a handle for it is registered here. Operators left unsupported are elementwise
(add, gelu, softmax, pooling) and are listed in ``ignored_ops`` rather than hidden.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = ["FlopCount", "count_flops", "sdpa_flop_handle"]

_SDPA_OPS = (
    "aten::scaled_dot_product_attention",
    "aten::_scaled_dot_product_flash_attention",
    "aten::_scaled_dot_product_efficient_attention",
    "aten::_scaled_dot_product_flash_attention_for_cpu",
)


@dataclass(frozen=True)
class FlopCount:
    """Multiply-adds of one forward pass of one sample."""

    gmacs: float
    by_module: dict[str, float] = field(default_factory=dict)  # module name -> GMACs
    ignored_ops: tuple[str, ...] = ()

    @property
    def gflops(self) -> float:
        return 2 * self.gmacs


def _shape(value) -> list[int]:
    return value.type().sizes()


def sdpa_flop_handle(inputs, outputs) -> Counter:
    """MACs of scaled dot-product attention: batch x L x S x (E + Ev) for q (.., L, E), k (.., S, E),
    v (.., S, Ev): one matmul for the scores and one for the weighted values."""
    q, k, v = (_shape(x) for x in inputs[:3])
    batch = math.prod(q[:-2])
    macs = batch * q[-2] * k[-2] * (q[-1] + v[-1])
    return Counter({"scaled_dot_product_attention": macs})


def count_flops(model: nn.Module, example: torch.Tensor) -> FlopCount:
    """Count multiply-adds of ``model(example)`` with fvcore and return them per sample.

    ``model`` should be the fp32 eager model; ``example`` a batch on the model's device.
    """
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(model, example)
    analysis.set_op_handle(**{op: sdpa_flop_handle for op in _SDPA_OPS})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    # fvcore also logs tracer warnings through the root logger; they are not ours to print.
    logger = logging.getLogger("fvcore")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad():
            total = analysis.total()
            by_module = analysis.by_module()
            ignored = tuple(sorted(analysis.unsupported_ops()))
    finally:
        logger.setLevel(level)
    batch = example.shape[0]
    return FlopCount(
        gmacs=total / batch / 1e9,
        by_module={name: macs / batch / 1e9 for name, macs in by_module.items()},
        ignored_ops=ignored,
    )
