"""A name -> entry registry with fnmatch listing, shared by models and optimizations.

Like timm's model registry: a decorator puts a plain function into a dict, ``names(pattern)``
filters with fnmatch, and an unknown name is an error that names the close matches.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from typing import Generic, TypeVar

from vbench.errors import UnknownNameError, VBenchError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind ("model", "optimization") by name."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T, *, overwrite: bool = False) -> T:
        """Register ``entry`` under ``name``; a second registration of a name is an error
        unless ``overwrite`` (a user's conftest replacing a built-in on purpose)."""
        # The same entry again (its module imported afresh, as pytester's in-process runs do) is no clash.
        if name in self._entries and not overwrite and self._entries[name] != entry:
            raise VBenchError(f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name`` (for tests and plugins that register temporarily)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """Return the entry for ``name``, or raise :class:`UnknownNameError` with suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching the fnmatch ``pattern``."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def entries(self) -> list[T]:
        """Every entry in registration order (tables that keep an order: the gate's metrics)."""
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)
