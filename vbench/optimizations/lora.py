"""LoRA through peft as optimizations: ``lora_rN`` (adapters unmerged) and ``lora_rN_merged``.

Any rank works by name (``lora_r12``); ``lora_r4`` ... ``lora_r64`` are listed by default. In a
training cell only the adapters train; in an inference cell ``lora_rN`` runs the unmerged adapters
(the extra matmuls cost time) and ``lora_rN_merged`` runs after ``merge_and_unload`` (the base
model's cost). Adapters start as peft initialises them (B = 0), so outputs equal the base model's
and the correctness check against fp32 eager stays meaningful; the cost does not depend on values.

Target modules by family: ViT, DeiT and Swin wrap each attention block's ``qkv`` and ``proj``
Linear layers (``--vb-lora-targets attn+mlp`` adds ``mlp.fc1``/``mlp.fc2``); ResNet and DenseNet wrap
every Conv2d through peft's Conv2d LoRA. A bare ``proj`` would also match ViT's ``patch_embed.proj``
convolution, so targets are exact module names, never suffixes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from vbench.errors import VBenchError
from vbench.optimizations.plan import Executable, OptContext, Optimization, Stage, register_optimization_factory

__all__ = ["DEFAULT_RANKS", "LoraSpec", "target_modules", "check_rank", "lora_optimization", "apply_lora"]

DEFAULT_RANKS = (4, 8, 16, 32, 64)
_NAME = re.compile(r"lora_r(\d+)(_merged)?")
_ATTENTION_FAMILIES = {"vision_transformer", "deit", "swin_transformer"}
_CONV_FAMILIES = {"resnet", "densenet"}
_ATTN = re.compile(r"(^|\.)attn\.(qkv|proj)$")
_MLP = re.compile(r"(^|\.)mlp\.(fc1|fc2)$")


@dataclass(frozen=True)
class LoraSpec:
    """LoRA hyper-parameters other than the rank (``--vb-lora-*`` options).

    ``targets``: "default" (per family), "attn", "attn+mlp", "conv", or a regex over module names.
    ``alpha``: None means alpha = rank (scaling 1).
    """

    targets: str = "default"
    alpha: float | None = None
    dropout: float = 0.0

    def __post_init__(self):
        if not 0 <= self.dropout < 1:
            raise VBenchError(f"LoRA dropout must be in [0, 1), got {self.dropout}")
        if self.alpha is not None and self.alpha <= 0:
            raise VBenchError(f"LoRA alpha must be positive, got {self.alpha}")


def target_modules(model: nn.Module, family: str, targets: str = "default") -> list[str]:
    """Exact names of the modules LoRA wraps in ``model``; one-line error when none match."""
    if targets == "default":
        if family in _ATTENTION_FAMILIES:
            targets = "attn"
        elif family in _CONV_FAMILIES:
            targets = "conv"
        else:
            raise VBenchError(
                f"LoRA has no default target modules for family {family!r}; "
                "pass --vb-lora-targets attn, attn+mlp, conv or a regex over module names")
    modules = dict(model.named_modules())
    if targets == "conv":
        names = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
    elif targets in ("attn", "attn+mlp"):
        patterns = [_ATTN] + ([_MLP] if targets == "attn+mlp" else [])
        names = [n for n, m in modules.items()
                 if isinstance(m, nn.Linear) and any(p.search(n) for p in patterns)]
    else:
        try:
            pattern = re.compile(targets)
        except re.error as exc:
            raise VBenchError(f"--vb-lora-targets {targets!r} is not a valid regex: {exc}") from None
        names = [n for n, m in modules.items() if n and pattern.fullmatch(n) and isinstance(m, (nn.Linear, nn.Conv2d))]
    if not names:
        examples = ", ".join(n for n, m in modules.items() if isinstance(m, (nn.Linear, nn.Conv2d)))[:200]
        raise VBenchError(f"LoRA targets {targets!r} match no Linear or Conv2d module; modules include: {examples}")
    return names


def check_rank(model: nn.Module, names: list[str], rank: int) -> None:
    """Refuse a rank above what a target layer allows (min of its input and output sizes)."""
    modules = dict(model.named_modules())
    for name in names:
        m = modules[name]
        if isinstance(m, nn.Linear):
            limit = min(m.in_features, m.out_features)
        else:
            limit = min(m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1], m.out_channels)
        if rank > limit:
            raise VBenchError(f"LoRA rank {rank} is larger than layer {name!r} allows ({limit})")


def apply_lora(model: nn.Module, family: str, rank: int, spec: LoraSpec, **config) -> tuple[nn.Module, list[str]]:
    """Wrap ``model`` with peft LoRA adapters of ``rank``; only the adapters stay trainable.

    Returns the peft model and the wrapped module names; ``config`` goes to ``LoraConfig``.
    """
    from peft import LoraConfig, get_peft_model

    names = target_modules(model, family, spec.targets)
    check_rank(model, names, rank)
    lora_config = LoraConfig(r=rank, lora_alpha=spec.alpha or rank, lora_dropout=spec.dropout, target_modules=names,
                             **config)
    return get_peft_model(model, lora_config), names


def _lora_spec(ctx: OptContext) -> LoraSpec:
    return getattr(ctx.settings, "lora", None) or LoraSpec()


def lora_optimization(name: str) -> Optimization | None:
    """The optimization for ``lora_rN`` / ``lora_rN_merged``, or None for other names."""
    match = _NAME.fullmatch(name)
    if not match:
        return None
    rank, merged = int(match.group(1)), bool(match.group(2))
    if rank <= 0:
        raise VBenchError(f"LoRA rank must be positive in {name!r}")

    def apply(exe: Executable, ctx: OptContext) -> Executable:
        peft_model, names = apply_lora(exe.module, ctx.family, rank, _lora_spec(ctx))
        exe.notes.update(lora_rank=rank, lora_merged=merged, lora_target_modules=len(names))
        trainable, total = peft_model.get_nb_trainable_parameters()
        exe.notes.update(lora_trainable_params=trainable, lora_total_params=total)
        exe.module = peft_model.merge_and_unload() if merged else peft_model
        return exe

    what = "merged into the weights (merge_and_unload)" if merged else "unmerged adapters"
    return Optimization(
        name, apply, Stage.CAST, modes=frozenset({"inference"} if merged else {"inference", "train"}),
        requires=(("peft", "peft"),), description=f"LoRA rank {rank} via peft, {what}",
    )


register_optimization_factory(lora_optimization)
