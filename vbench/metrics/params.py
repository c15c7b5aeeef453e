"""Parameter counts."""

from __future__ import annotations

from torch import nn

__all__ = ["count_params"]


def count_params(module: nn.Module) -> tuple[int, int]:
    """Return ``(total, trainable)`` parameter counts; shared (tied) parameters count once."""
    seen: dict[int, tuple[int, bool]] = {}
    for p in module.parameters():
        seen[id(p)] = (p.numel(), p.requires_grad)
    return sum(n for n, _ in seen.values()), sum(n for n, trainable in seen.values() if trainable)
