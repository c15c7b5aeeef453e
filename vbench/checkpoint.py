"""Read a local checkpoint into a state dict, safely, and say in one line what is wrong with a bad one.

Checkpoints are read with ``torch.load(weights_only=True)`` or safetensors: never a pickle that could run
code. torch's own messages for a bad file are long and, for a file holding Python objects, advise
``weights_only=False``; vbench never follows or repeats that advice, so each failure is classified here.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from vbench.errors import VBenchError

__all__ = ["read_state_dict"]

_NESTED_KEYS = ("state_dict", "model", "model_state_dict")  # training scripts wrap the state dict in these


def _fail(path: Path, why: str) -> VBenchError:
    return VBenchError(f"weights {str(path)!r}: {why}")


def _load_torch(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if zipfile.is_zipfile(path) and "global" in str(exc).lower():
            raise _fail(path, "holds Python objects besides tensors; vbench loads only tensors "
                              "(weights_only=True) - save model.state_dict() instead") from None
        raise _fail(path, "not a PyTorch checkpoint (corrupt, or another format)") from None
    except (RuntimeError, EOFError, OSError, ValueError, IndexError) as exc:
        text = str(exc)
        if "central directory" in text or "zip archive" in text or isinstance(exc, (EOFError, OSError)):
            raise _fail(path, "truncated or corrupt (an incomplete checkpoint archive)") from None
        raise _fail(path, f"cannot be read: {text.splitlines()[0][:160] if text else type(exc).__name__}") from None
    except Exception:  # the weights-only unpickler met bytes it cannot parse (KeyError, TypeError, ...)
        raise _fail(path, "not a PyTorch checkpoint (corrupt, or another format)") from None


def _load_safetensors(path: Path) -> object:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise _fail(path, f"not a readable safetensors file ({first})") from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of the checkpoint at ``path`` (a ``.safetensors`` file or a ``torch.save`` of a state
    dict, possibly nested under ``state_dict``/``model``/``model_state_dict``); :class:`VBenchError`
    with one line for a missing, empty, truncated, corrupt or non-state-dict file."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file does not exist")
    if path.stat().st_size == 0:
        raise _fail(path, "file is empty")
    state = _load_safetensors(path) if path.suffix == ".safetensors" else _load_torch(path)
    if isinstance(state, dict):
        for key in _NESTED_KEYS:
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        kind = "an empty dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise _fail(path, f"holds {kind}, not a state dict (save model.state_dict())")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise _fail(path, f"entry {not_tensors[0]!r} is not a tensor; a state dict maps names to tensors")
    return state


def check_run_weights(weights: dict[str, Path] | Path | None, weights_for, cells, seed: int) -> None:
    """Validate the run's checkpoints once, before the first cell: a ``MODEL=PATH`` pair for a model the run
    does not select is a typo (not a silent no-op), and each selected model's checkpoint must read and fit
    the model, so that a bad file fails in one line instead of in every cell."""
    from vbench.models import create_model  # models imports this module

    selected = list(dict.fromkeys(c.model for c in cells))
    if isinstance(weights, dict):
        for model in weights:
            if model not in selected:
                raise VBenchError(f"--vb-weights {model}: not a model of this run (selected: {', '.join(sorted(selected))})")
    for model in selected:
        path = weights_for(model)
        if path is not None:
            cell = next(c for c in cells if c.model == model)
            create_model(model, img_size=cell.img_size, weights=path, seed=seed)
