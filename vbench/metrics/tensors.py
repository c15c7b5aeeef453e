"""Byte counts of live tensors, measured on any device (the CPU has no allocator statistics).

:class:`LiveTensorBytes` is a TorchDispatchMode: every operator output whose storage is new is
counted until the storage is freed, so ``peak`` is the most tensor memory that came into being
inside the block at once. :class:`SavedActivations` counts what autograd saves for backward (the
activations), excluding the parameters it also saves.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["LiveTensorBytes", "SavedActivations", "tensor_bytes"]


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    seen: dict[int, int] = {}
    for t in tensors:
        if isinstance(t, torch.Tensor):
            storage = t.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


class LiveTensorBytes(TorchDispatchMode):
    """Counts bytes of tensor storages created inside the block and still alive.

    ``live`` is the current count, ``peak`` its maximum; :meth:`reset_peak` starts a new phase.
    """

    def __init__(self):
        super().__init__()
        self._refs: dict[int, tuple[StorageWeakRef, int]] = {}
        self.live = 0
        self.peak = 0

    def reset_peak(self) -> None:
        self._sweep()
        self.peak = self.live

    def _sweep(self) -> None:
        dead = [key for key, (ref, _) in self._refs.items() if ref.expired()]
        for key in dead:
            self.live -= self._refs.pop(key)[1]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        grew = False
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                storage = t.untyped_storage()
                key = storage.data_ptr()
                if key and key not in self._refs:
                    size = storage.nbytes()
                    self._refs[key] = (StorageWeakRef(storage), size)
                    self.live += size
                    grew = True
        if grew:
            # Frees happen between allocations; sweeping here keeps the count exact at each new peak.
            self._sweep()
            self.peak = max(self.peak, self.live)
        return out


class SavedActivations:
    """Context manager counting bytes autograd saves for backward, parameters excluded."""

    def __init__(self, parameters: Iterable[torch.Tensor]):
        self._params = {p.untyped_storage().data_ptr() for p in parameters}
        self._saved: dict[int, int] = {}
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in self._params:
            self._saved[storage.data_ptr()] = storage.nbytes()
        return t

    @property
    def bytes(self) -> int:
        return sum(self._saved.values())

    def __enter__(self) -> SavedActivations:
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)
