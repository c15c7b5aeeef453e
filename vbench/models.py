"""Models: any timm architecture by name, plus user factories registered with a decorator.

A user's conftest.py (or a plugin) adds its own model like this::

    from vbench import register_model

    @register_model(family="resnet", img_size=32)
    def tiny_cnn(img_size: int, num_classes: int) -> torch.nn.Module:
        return MyNet(num_classes)

Every model is built with a fixed seed so the same random-initialised weights come back every run,
and without downloading anything (``pretrained=False``); real weights come from local files.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from vbench.checkpoint import read_state_dict
from vbench.errors import UnknownNameError, VBenchError, close_matches
from vbench.registry import Registry

__all__ = [
    "ModelEntry",
    "MODELS",
    "register_model",
    "resolve_model",
    "list_models",
    "create_model",
    "load_weights",
    "model_exists",
]

ModelFactory = Callable[[int, int], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """How to build one model.

    ``factory(img_size, num_classes)`` returns a fresh ``nn.Module`` in fp32 on the CPU;
    ``family`` groups architectures (vision_transformer, swin_transformer, resnet, ...) for defaults
    such as LoRA target modules; ``default_img_size`` is used when a profile gives no image size.
    """

    name: str
    factory: ModelFactory
    family: str
    default_img_size: int = 224
    in_chans: int = 3
    source: str = "user"


MODELS: Registry[ModelEntry] = Registry("model")


def register_model(
    fn: ModelFactory | None = None,
    *,
    name: str | None = None,
    family: str = "custom",
    img_size: int = 224,
    in_chans: int = 3,
    overwrite: bool = False,
):
    """Register ``fn(img_size, num_classes) -> nn.Module`` as a model; usable bare or with arguments.

    Returns the function unchanged, so it stays callable and testable on its own.
    """

    def decorate(factory: ModelFactory) -> ModelFactory:
        entry = ModelEntry(name or factory.__name__, factory, family, img_size, in_chans, "user")
        MODELS.add(entry.name, entry, overwrite=overwrite)
        return factory

    return decorate(fn) if fn is not None else decorate


def _timm():
    import timm  # deferred: importing timm costs ~1 s and is not needed to parse options

    return timm


@functools.lru_cache(maxsize=None)
def _timm_entry(name: str) -> ModelEntry:
    timm = _timm()
    entrypoint = timm.models.model_entrypoint(name)
    family = entrypoint.__module__.rsplit(".", 1)[-1]
    cfg = timm.models.get_pretrained_cfg(name)
    default_size = cfg.input_size[-1] if cfg is not None and cfg.input_size else 224

    def build(img_size: int, num_classes: int) -> nn.Module:
        # Transformers bake the token grid into their position embeddings, so they take img_size;
        # CNNs are size-agnostic and their constructors reject the argument before building anything.
        try:
            return timm.create_model(name, pretrained=False, num_classes=num_classes, img_size=img_size)
        except TypeError as exc:
            if "img_size" not in str(exc):
                raise
            return timm.create_model(name, pretrained=False, num_classes=num_classes)

    return ModelEntry(name, build, family, default_size, 3, "timm")


def model_exists(name: str) -> bool:
    """True if ``name`` is a registered model or a timm architecture."""
    return name in MODELS or _timm().is_model(name)


def resolve_model(name: str) -> ModelEntry:
    """Return the entry for ``name``: a registered model first, else a timm architecture.

    Raises :class:`UnknownNameError` naming the close matches among both.
    """
    if name in MODELS:
        return MODELS.get(name)
    if _timm().is_model(name):
        return _timm_entry(name)
    raise UnknownNameError("model", name, list_models())


def list_models(pattern: str = "*", *, include_timm: bool = True) -> list[str]:
    """Sorted model names matching the fnmatch ``pattern``: registered ones and, if asked, timm's."""
    names = set(MODELS.names(pattern))
    if include_timm:
        names.update(_timm().list_models(pattern))
    return sorted(names)


def expand_model_patterns(patterns: list[str]) -> list[str]:
    """Turn names and fnmatch patterns into model names, keeping order and dropping repeats.

    Raises :class:`UnknownNameError` for a name that exists nowhere and :class:`VBenchError`
    for a pattern that matches nothing.
    """
    out: list[str] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            matched = list_models(pattern)
            if not matched:
                raise VBenchError(f"model pattern {pattern!r} matches no registered or timm model")
        else:
            resolve_model(pattern)
            matched = [pattern]
        out.extend(m for m in matched if m not in out)
    return out


def create_model(
    name: str,
    *,
    img_size: int | None = None,
    num_classes: int = 1000,
    weights: str | Path | None = None,
    seed: int = 0,
) -> nn.Module:
    """Build model ``name`` in fp32 on the CPU, in eval mode, with a fixed ``seed``.

    ``weights`` is a local ``.safetensors`` or PyTorch checkpoint (loaded with
    ``weights_only=True``; never a pickle of arbitrary objects).
    """
    entry = resolve_model(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = entry.factory(img_size or entry.default_img_size, num_classes)
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load a state dict from ``path`` into ``model`` (strict); one-line error on any mismatch."""
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    misshapen = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or misshapen:  # a summary: torch's message lists every key, often hundreds
        parts = [f"{len(keys)} {what} (first: {keys[0]!r})" for what, keys in
                 (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatches", misshapen)) if keys]
        if misshapen:
            k = misshapen[0]
            parts[-1] += f" {tuple(state[k].shape)} in the file, {tuple(expected[k].shape)} in the model"
        raise VBenchError(f"weights {str(path)!r} do not fit the model: {'; '.join(parts)}")
    model.load_state_dict(state, strict=True)


def suggest_models(name: str) -> list[str]:
    """Close matches for a misspelt model name (registered and timm)."""
    return close_matches(name, list_models())
