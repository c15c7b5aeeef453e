"""Saved pytest-benchmark JSON -> one pandas DataFrame, one row per measured cell.

A *run* is one JSON file written by ``--benchmark-json`` or ``--benchmark-autosave``; a storage
folder (``.benchmarks/``) holds many. Files are read by the gate's reader (:mod:`vbench.compare.runs`),
so the report and the gate see the same runs, validated the same way. Every schema field becomes a
column, whatever the file's schema version: a field an older vbench did not write is a blank (NaN),
never a zero, so a report over old and new runs still lines up. Units live in ``frame.attrs["units"]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vbench.compare.runs import CellRecord, Run, expand_json_paths, load_run
from vbench.errors import VBenchError
from vbench.metrics.registry import list_metrics, stored_units
from vbench.schema import FIELDS, UNITS

__all__ = ["COLUMN_UNITS", "column_units", "CELL_KEY", "UNKNOWN_HARDWARE", "load_vbench_run", "hardware_key_of", "find_runs",
           "load_runs", "runs_to_frame", "load_frame"]

# One cell on one machine: two rows with the same key and hardware are the same measurement
# repeated (another run), never two points to average.
CELL_KEY = ("model", "optimization", "mode", "batch_size", "img_size")

UNKNOWN_HARDWARE = "unknown-hardware"

# Columns the loader adds beside the schema's: where a row came from and the timing statistics
# pytest-benchmark kept (seconds per round; the raw samples, when stored, for noise estimates).
EXTRA_UNITS: dict[str, str] = {
    "run": "",
    "run_datetime": "",
    "source": "",
    "hardware_key": "",
    "commit": "",
    "test_name": "",
    "fullname": "",
    "median_s": "s/batch",
    "iqr_s": "s/batch",
    "q1_s": "s/batch",
    "q3_s": "s/batch",
    "stddev_s": "s/batch",
    "stats_rounds": "",
    "lora_rank": "",
    "trainable_pct": "% of params",
    "mem_mb": next(m.unit for m in list_metrics() if m.name == "mem_mb"),  # the registry's derived metric
    "samples_per_s_per_gb": "samples/s per GiB of mem_mb",
}
COLUMN_UNITS: dict[str, str] = {**UNITS, **EXTRA_UNITS}


def column_units() -> dict[str, str]:
    """:data:`COLUMN_UNITS` with the units of every registered metric (users' too) added."""
    return {**stored_units(), **COLUMN_UNITS}


def load_vbench_run(path: str | Path) -> Run:
    """Read one saved run through the gate's reader (:func:`vbench.compare.runs.load_run`), keeping
    only its vbench cells.

    Raw per-round samples are optional here (a report of an older run without them still shows its
    statistics). Raises :class:`VBenchError` (one line) for what that reader refuses, and for a run
    with no benchmarks or with no vbench cell in it.
    """
    run = load_run(path, require_samples=False)
    if not run.cells:
        raise VBenchError(f"{path}: empty run: no benchmarks were saved (did every cell skip?)")
    cells = {name: c for name, c in run.cells.items() if "model" in c.extra}
    if not cells:
        raise VBenchError(f"{path}: pytest-benchmark JSON without vbench cells (extra_info has no 'model')")
    run.cells = cells
    return run


def hardware_key_of(run: Run) -> str:
    """The run's hardware key; older runs (or another plugin's) lack one and report under a marked one."""
    return run.hardware_key or UNKNOWN_HARDWARE


def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Expand files and folders (a ``.benchmarks`` storage folder, searched recursively) to JSON files."""
    found: list[Path] = []
    for raw in paths:  # one target at a time: the first bad one is the one named
        files, empty, missing = expand_json_paths([raw])
        if empty:
            raise VBenchError(f"{empty[0]}: folder holds no .json run")
        if missing:
            raise VBenchError(f"{missing[0]}: no such file or folder")
        found.extend(files)
    return list(dict.fromkeys(found))


def load_runs(paths: Sequence[str | Path]) -> list[Run]:
    """Load every run under ``paths``; labels (file stems) are made unique when two files share one."""
    if not paths:
        raise VBenchError("no run given: pass pytest-benchmark JSON files or a storage folder")
    runs = [load_vbench_run(p) for p in find_runs(paths)]
    seen: dict[str, int] = {}
    for run in runs:
        n = seen.get(run.label, 0)
        seen[run.label] = n + 1
        if n:
            run.label = f"{run.label}~{n + 1}"
    return runs


def _row(run: Run, cell: CellRecord) -> dict[str, Any]:
    info, stats = cell.extra, cell.stats
    row: dict[str, Any] = {name: info.get(name) for name in FIELDS}
    row.update(
        run=run.label,
        run_datetime=run.datetime,
        source=run.source,
        hardware_key=hardware_key_of(run),
        commit=run.commit,
        test_name=cell.name,
        fullname=cell.fullname,
        median_s=stats.get("median"),
        iqr_s=stats.get("iqr"),
        q1_s=stats.get("q1"),
        q3_s=stats.get("q3"),
        stddev_s=stats.get("stddev"),
        stats_rounds=stats.get("rounds"),
    )
    # Fields later schema versions add (lora_rank, ...) come along as long as they are scalars.
    for key, value in info.items():
        if key not in row and (value is None or isinstance(value, (int, float, str, bool))):
            row[key] = value
    # Raw per-round seconds: kept as a list in an object column for the noise checks.
    row["samples_s"] = list(cell.samples) if cell.samples else None
    return row


def runs_to_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per (run, cell); schema columns first, then provenance, stats and derived columns.

    Derived: ``trainable_pct``, ``mem_mb`` (the memory that limits batch size on this device: CUDA peak allocated,
    else CPU peak RSS) and ``samples_per_s_per_gb``.
    """
    rows = [_row(run, c) for run in runs for c in run.cells.values()]
    columns = [*FIELDS, *EXTRA_UNITS, "samples_s"]
    columns += sorted({k for row in rows for k in row} - set(columns))
    frame = pd.DataFrame(rows, columns=columns)
    units = column_units()
    registered = [m.name for m in list_metrics() if m.stored]
    numeric = [c for c, unit in units.items() if unit and c in frame] + registered + [
        "schema_version", "rounds", "params", "trainable_params", "max_rel_err", "mean_rel_err", "stats_rounds",
        "lora_rank",
    ]
    for col in dict.fromkeys(numeric):
        if col in frame and col not in ("mem_mb", "samples_per_s_per_gb", "trainable_pct"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    frame["trainable_pct"] = 100 * frame["trainable_params"] / frame["params"]
    # On CPU the process RSS carries the whole interpreter; a training cell's tensor-counted step peak
    # is the number that shows LoRA's memory saving there.
    step_peak = frame["mem_step_peak_mb"] if "mem_step_peak_mb" in frame else pd.Series(float("nan"), index=frame.index)
    frame["mem_mb"] = frame["peak_mem_allocated_mb"].where(
        frame["peak_mem_allocated_mb"].notna(), step_peak.where(step_peak.notna(), frame["peak_rss_mb"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["samples_per_s_per_gb"] = frame["samples_per_s"] / (frame["mem_mb"] / 1024)
    frame.attrs["units"] = {c: units.get(c, "") for c in frame.columns}
    frame.attrs["runs"] = [
        {"run": r.label, "source": r.source, "datetime": r.datetime, "hardware_key": hardware_key_of(r),
         "commit": r.commit, "cells": len(r.cells)}
        for r in runs
    ]
    return frame


def load_frame(paths: Sequence[str | Path]) -> pd.DataFrame:
    """``runs_to_frame(load_runs(paths))``: the one-call entry point."""
    return runs_to_frame(load_runs(paths))
