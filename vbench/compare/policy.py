"""Tolerances: ``--vb-fail-on "time:5%,memory:3%,cold_start:25%"`` and per-cell overrides.

Each metric belongs to a category with one tolerance (a fraction; ``off`` disables the category).
Per-cell overrides come from the matrix file's ``gate:`` block (fnmatch patterns on the cell id)::

    gate:
      fail_on: "time:5%,memory:3%"          # replaces the defaults for this matrix
      cells:
        "vit_*-compile-*": "time:15%"       # a noisier cell gets a wider tolerance
        "*-bs1-*": "cold_start:off"
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vbench.errors import VBenchError

__all__ = ["CATEGORIES", "DEFAULT_FAIL_ON", "parse_fail_on", "GatePolicy", "load_matrix_policy"]

# category -> what it covers (documentation and error messages)
CATEGORIES: dict[str, str] = {
    "time": "latency median, throughput (needs significance as well)",
    "tail": "latency p90 (needs significance as well; a shared machine's tail is noisier than its median)",
    "relative": "cell time over an interleaved reference: the eager model (rel_time) or the machine probe "
                "(norm_time) (needs significance as well)",
    "memory": "peak_mem_allocated_mb, peak_mem_reserved_mb (CUDA: near deterministic)",
    "rss": "peak_rss_mb (CPU resident set: allocator caching and library pages make it noisier)",
    "cold_start": "cold_start_s (build + convert/compile + first call; one sample)",
}
DEFAULT_FAIL_ON = "time:5%,tail:10%,relative:5%,memory:3%,rss:10%,cold_start:25%"


def parse_fail_on(text: str, *, base: Mapping[str, float | None] | None = None) -> dict[str, float | None]:
    """Parse ``"time:5%,memory:3%"`` into ``{category: fraction}`` on top of ``base``.

    A value is a percentage (``5%``, ``5``, ``2.5%``) or ``off`` (None: never judged).
    """
    out: dict[str, float | None] = dict(base or {})
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, sep, value = part.partition(":")
        name, value = name.strip(), value.strip().rstrip("%").strip()
        if not sep or name not in CATEGORIES:
            raise VBenchError(
                f"--vb-fail-on entry {part!r} must be CATEGORY:PERCENT with CATEGORY one of {', '.join(CATEGORIES)}"
            )
        if value.lower() == "off":
            out[name] = None
            continue
        try:
            pct = float(value)
        except ValueError:
            raise VBenchError(f"--vb-fail-on {name}: {value!r} is not a percentage (e.g. 5%) or off") from None
        if pct < 0:
            raise VBenchError(f"--vb-fail-on {name}: tolerance must be >= 0, got {pct}%")
        out[name] = pct / 100
    return out


@dataclass(frozen=True)
class GatePolicy:
    """Tolerances per category, per-cell overrides, and the significance level for time metrics."""

    tolerances: Mapping[str, float | None] = field(default_factory=lambda: parse_fail_on(DEFAULT_FAIL_ON))
    overrides: tuple[tuple[str, Mapping[str, float | None]], ...] = ()
    alpha: float = 0.01

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise VBenchError(f"significance level must be between 0 and 1, got {self.alpha}")

    def tolerance(self, cell_label: str, category: str) -> float | None:
        """The tolerance of ``category`` for the cell; the last matching override wins."""
        value = self.tolerances.get(category)
        for pattern, tolerances in self.overrides:
            if category in tolerances and fnmatch.fnmatchcase(cell_label, pattern):
                value = tolerances[category]
        return value

    @classmethod
    def build(cls, fail_on: str | None = None, matrix: str | Path | None = None, alpha: float = 0.01) -> GatePolicy:
        """Defaults, then the matrix file's ``gate.fail_on``, then ``fail_on``; overrides from the matrix."""
        tolerances = parse_fail_on(DEFAULT_FAIL_ON)
        overrides: tuple = ()
        if matrix:
            matrix_fail_on, overrides = load_matrix_policy(matrix)
            if matrix_fail_on:
                tolerances = parse_fail_on(matrix_fail_on, base=tolerances)
        if fail_on:
            tolerances = parse_fail_on(fail_on, base=tolerances)
        return cls(tolerances, overrides, alpha)


def load_matrix_policy(path: str | Path) -> tuple[str | None, tuple[tuple[str, dict[str, float | None]], ...]]:
    """Read the ``gate:`` block of a matrix YAML file: ``(fail_on or None, ((pattern, tolerances), ...))``."""
    from vbench.profiles import read_matrix_yaml

    path = Path(path)
    data = read_matrix_yaml(path)
    gate = (data or {}).get("gate") if isinstance(data, dict) else None
    if gate is None:
        return None, ()
    if not isinstance(gate, dict) or set(gate) - {"fail_on", "cells"}:
        raise VBenchError(f"matrix file {str(path)!r}: 'gate' must be a mapping with keys fail_on and cells")
    cells = gate.get("cells") or {}
    if not isinstance(cells, dict):
        raise VBenchError(f"matrix file {str(path)!r}: 'gate.cells' must map cell patterns to fail-on strings")
    overrides = tuple((str(pattern), parse_fail_on(str(spec))) for pattern, spec in cells.items())
    fail_on = gate.get("fail_on")
    return (str(fail_on) if fail_on else None), overrides
