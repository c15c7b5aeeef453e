"""Tolerances: ``--vb-fail-on "relative:5%,rss:10%"``, device presets and per-cell overrides.

Each metric belongs to a category with one tolerance (a fraction; ``off``: reported, not gated).
The defaults follow the device. On a CPU the gate judges ``norm_time`` (each round's time over a
fixed machine probe timed just before it), because a shared CPU's speed drifts by 10-40% between
sessions and the ratio cancels most of that; absolute time is reported, not gated. On CUDA the
device's own time is stable and is gated directly. ``--vb-fail-on time:5%`` gates absolute time on a
CPU too. Per-cell overrides come from the matrix file's ``gate:`` block (fnmatch patterns on the
cell id)::

    gate:
      fail_on: "relative:5%,rss:off"        # on top of the device's defaults
      cells:
        "vit_*-compile-*": "relative:15%"   # a noisier cell gets a wider tolerance
        "*-bs1-*": "cold_start:off"
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vbench.errors import VBenchError

__all__ = ["CATEGORIES", "DEVICE_FAIL_ON", "DEFAULT_FAIL_ON", "DEFAULT_ALPHA", "DEFAULT_BASELINE_RUNS", "LENIENT_LEVEL", "SUSPECT_LEVEL", "SCREEN_MISS", "parse_fail_on",
           "GatePolicy", "load_matrix_policy"]

# category -> what it covers (documentation and error messages)
CATEGORIES: dict[str, str] = {
    "time": "latency median (absolute seconds; gated on CUDA, reported on CPU)",
    "tail": "latency p90 per session (off by default: a shared machine's tail moves with the machine)",
    "relative": "cell time over an interleaved reference: the machine probe (norm_time, gated on CPU) or the "
                "eager model (rel_time, --vb-relative)",
    "memory": "peak_mem_allocated_mb, peak_mem_reserved_mb (CUDA)",
    "rss": "peak_rss_mb (CPU resident set during the timed rounds)",
    "cold_start": "cold_start_s (build + convert/compile + first call; compiled cells only against sessions "
                  "with the same compile-cache state)",
}
# On a CPU, cold start is reported, not gated: a single sample with no fresh-session confirmation, it
# moved +40% to +120% in single cells of unchanged study sessions on the 2-core VM whenever other
# work ran for a few seconds (docs/measurements.md).
DEVICE_FAIL_ON: dict[str, str] = {
    "cpu": "time:off,tail:off,relative:5%,memory:3%,rss:10%,cold_start:off",
    "cuda": "time:5%,tail:off,relative:5%,memory:3%,rss:10%,cold_start:25%",
}
DEFAULT_FAIL_ON = DEVICE_FAIL_ON["cpu"]
# The chance that an unchanged run has any regressed row, over all its checks (Bonferroni).
DEFAULT_ALPHA = 0.01
# Baseline sessions judged against. The baseline's mean enters a change's standard error as 1/K next
# to the fresh sessions' 1/n: with 8 fresh sessions, K = 10 against K = 5 shrinks the smallest
# change the gate can call by a sixth (sqrt(1/8 + 1/10) against sqrt(1/8 + 1/5)).
DEFAULT_BASELINE_RUNS = 10
# One check's level for "inconclusive" (beyond the tolerance, not beyond the strict bound).
LENIENT_LEVEL = 0.05
# One check's level for "suspect": re-measured in fresh sessions. Loose on purpose: the verdict rests
# on the fresh sessions alone (independent processes, held to the run-level per-check level), so the
# screen costs time, never false alarms, and every change it lets through unseen is a miss. With 10
# baseline sessions of the 2-core VM's study, 0.2 sent 0, 4 and 2 of 62 cells of three unchanged
# sessions to fresh sessions (0.01: none, and a 10% change on a cell of 3% spread passes it only ~3 times in 4).
SUSPECT_LEVEL = 0.2
# With A/B pairs against the baseline's commit the screen changes sides: a cell is re-measured unless
# this session rules out a change of twice its tolerance at this level, so the screen misses such a
# change at most this often (pairs cost a pair of processes; a quiet cell is rarely sent, a noisy one
# always). On the 2-core VM a session's own change moves by 3-13% between sessions (ResNet cells), so
# the old screen (beyond the tolerance and SUSPECT_LEVEL) missed about one 10% change in four.
SCREEN_MISS = 0.01


def _pct(text: str) -> float | None:
    """``5%``, ``5``, ``2.5%`` -> a finite non-negative percentage; None when it is not one."""
    value = text.strip()
    if value.endswith("%"):
        value = value[:-1].strip()
    try:
        pct = float(value)
    except ValueError:
        return None
    return pct if pct == pct and pct not in (float("inf"),) and pct >= 0 else None


def parse_fail_on(text: str, *, base: Mapping[str, float | None] | None = None,
                  option: str = "--vb-fail-on") -> dict[str, float | None]:
    """Parse ``"time:5%,memory:3%"`` into ``{category: fraction}`` on top of ``base``.

    A value is a percentage (``5%``, ``5``, ``2.5%``) or ``off`` (None: reported, never gated).
    Raises :class:`VBenchError` naming ``option`` on anything else (empty entries included).
    """
    out: dict[str, float | None] = dict(base or {})
    parts = [p.strip() for p in str(text).split(",")]
    if not any(parts):
        raise VBenchError(f"{option} is empty; give CATEGORY:PERCENT entries, e.g. relative:5%")
    for part in parts:
        name, sep, value = part.partition(":")
        name, value = name.strip(), value.strip()
        if not part or not sep or name not in CATEGORIES:
            raise VBenchError(f"{option} entry {part!r} must be CATEGORY:PERCENT with CATEGORY one of "
                              f"{', '.join(CATEGORIES)}")
        if value.lower() == "off":
            out[name] = None
            continue
        pct = _pct(value)
        if pct is None:
            raise VBenchError(f"{option} {name}: {value!r} is not a percentage >= 0 (e.g. 5%) or off")
        out[name] = pct / 100
    return out


@dataclass(frozen=True)
class GatePolicy:
    """Tolerances per category, per-cell overrides, the run-level false-alarm level ``alpha`` and
    whether an inconclusive verdict fails the run."""

    tolerances: Mapping[str, float | None] = field(default_factory=lambda: parse_fail_on(DEFAULT_FAIL_ON))
    overrides: tuple[tuple[str, Mapping[str, float | None]], ...] = ()
    alpha: float = DEFAULT_ALPHA
    fail_on_inconclusive: bool = False
    device_type: str = "cpu"

    def __post_init__(self):
        if not 0 < self.alpha < 1:
            raise VBenchError(f"--vb-alpha (the run-level false-alarm level) must be between 0 and 1, got {self.alpha}")

    def tolerance(self, cell_label: str, category: str | None) -> float | None:
        """The tolerance of ``category`` for the cell; the last matching override wins."""
        if category is None:
            return None
        value = self.tolerances.get(category)
        for pattern, tolerances in self.overrides:
            if category in tolerances and fnmatch.fnmatchcase(cell_label, pattern):
                value = tolerances[category]
        return value

    @classmethod
    def build(cls, fail_on: str | None = None, matrix: str | Path | None = None, alpha: float = DEFAULT_ALPHA,
              *, device_type: str = "cpu", fail_on_inconclusive: bool = False,
              option: str = "--vb-fail-on") -> GatePolicy:
        """The device's defaults, then the matrix file's ``gate.fail_on``, then ``fail_on``."""
        device_type = "cuda" if str(device_type).startswith("cuda") else "cpu"
        tolerances = parse_fail_on(DEVICE_FAIL_ON[device_type])
        overrides: tuple = ()
        if matrix:
            matrix_fail_on, overrides = load_matrix_policy(matrix)
            if matrix_fail_on:
                tolerances = parse_fail_on(matrix_fail_on, base=tolerances, option=f"matrix file {matrix}: gate.fail_on")
        if fail_on is not None:
            tolerances = parse_fail_on(fail_on, base=tolerances, option=option)
        return cls(tolerances, overrides, alpha, fail_on_inconclusive, device_type)


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
    overrides = tuple((str(pattern), parse_fail_on(str(spec), option=f"matrix file {path}: gate.cells[{pattern!r}]"))
                      for pattern, spec in cells.items())
    fail_on = gate.get("fail_on")
    return (str(fail_on) if fail_on else None), overrides
