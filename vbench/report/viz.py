"""The model visualizer's data: a tree of modules with output shape, parameters, GMACs and activations.

One forward pass of one sample with hooks on every module gives each module's output shape and
size; fvcore's per-module count (:func:`vbench.metrics.flops.count_flops`, which also counts the
attention matmuls fvcore skips) gives GMACs. Parameters and GMACs are totals of the module's whole
subtree, so every level of the tree carries its own total; activation memory is given both for the
module's own output and summed over the outputs of the leaves below it (what a training step keeps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["ModuleNode", "ModelTree", "module_tree"]


@dataclass
class ModuleNode:
    """One module: its qualified name (``""`` for the root), class and measurements, with children."""

    name: str
    type: str
    out_shape: list[Any] | None  # shape of the output tensor, or a list of shapes for tuple outputs
    params: int  # parameters in this module's subtree
    own_params: int  # parameters held directly by this module
    gmacs: float  # multiply-adds of the subtree, per sample (fvcore by module)
    out_bytes: int  # bytes of this module's output for one sample
    act_bytes: int  # bytes of all leaf outputs in the subtree for one sample
    calls: int  # forward calls in one pass (shared modules run more than once)
    children: list["ModuleNode"] = field(default_factory=list)


@dataclass
class ModelTree:
    """The tree of one model at one image size, plus what it was measured with."""

    model: str
    img_size: int
    in_chans: int
    root: ModuleNode
    ignored_ops: list[str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def count(self) -> int:
        """Number of modules in the tree."""
        stack, n = [self.root], 0
        while stack:
            node = stack.pop()
            n += 1
            stack.extend(node.children)
        return n


def _shape_and_bytes(output: Any) -> tuple[Any, int]:
    if isinstance(output, torch.Tensor):
        return list(output.shape), output.numel() * output.element_size()
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        pairs = [_shape_and_bytes(o) for o in output]
        shapes = [s for s, _ in pairs if s is not None]
        return (shapes or None), sum(b for _, b in pairs)
    return None, 0


def _record_outputs(model: nn.Module, example: torch.Tensor) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    handles = []

    def hook_for(name: str):
        def hook(_module, _inputs, output):
            shape, nbytes = _shape_and_bytes(output)
            entry = seen.setdefault(name, {"calls": 0})
            entry.update(shape=shape, bytes=nbytes)  # the last call's output
            entry["calls"] += 1

        return hook

    for name, module in model.named_modules():
        handles.append(module.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def module_tree(name: str, img_size: int | None = None) -> ModelTree:
    """Build model ``name`` (a timm name or a registered model) and measure its module tree.

    Raises :class:`~vbench.errors.UnknownNameError` for an unknown model, with close matches, and
    :class:`~vbench.errors.VBenchError` (one line) when the model cannot be built or run at that size.
    """
    import warnings

    from vbench.errors import VBenchError
    from vbench.models import create_model, resolve_model

    from vbench.metrics.flops import count_flops

    entry = resolve_model(name)
    size = img_size or entry.default_img_size
    example = torch.randn(1, entry.in_chans, size, size, generator=torch.Generator().manual_seed(0))
    try:
        model = create_model(name, img_size=size)
        outputs = _record_outputs(model, example)
    except (RuntimeError, ValueError, AssertionError, TypeError) as exc:
        # Most often an input too small for the architecture; the user needs the reason, not a traceback.
        lines = str(exc).strip().splitlines()
        raise VBenchError(f"{name} cannot run at {size}px: {type(exc).__name__}: {lines[0] if lines else ''}") from None
    with warnings.catch_warnings():
        # fvcore (imported on first count) calls torch.jit.script, which this torch deprecates: not the user's concern.
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=FutureWarning)
        flops = count_flops(model, example)

    def build(qualname: str, module: nn.Module) -> ModuleNode:
        children = [build(f"{qualname}.{n}" if qualname else n, m) for n, m in module.named_children()]
        rec = outputs.get(qualname, {})
        own = sum(p.numel() for p in module.parameters(recurse=False))
        out_bytes = int(rec.get("bytes", 0))
        act = sum(c.act_bytes for c in children) if children else out_bytes
        return ModuleNode(
            name=qualname,
            type=type(module).__name__,
            out_shape=rec.get("shape"),
            params=sum(p.numel() for p in module.parameters()),
            own_params=own,
            gmacs=float(flops.by_module.get(qualname, 0.0)),
            out_bytes=out_bytes,
            act_bytes=act,
            calls=int(rec.get("calls", 0)),
            children=children,
        )

    return ModelTree(name, size, entry.in_chans, build("", model), list(flops.ignored_ops))
