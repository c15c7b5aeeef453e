"""Benchmark runs read from pytest-benchmark JSON, validated, and checked for matching hardware.

Every problem with a file is one :class:`~vbench.errors.VBenchError` line naming the file: missing,
truncated or corrupt JSON, JSON that is not pytest-benchmark's, no raw per-round samples. Files are
only ever read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vbench.errors import VBenchError

__all__ = ["SAMPLE_SOURCES", "SAMPLE_KEYS", "CellRecord", "Run", "load_run", "run_from_json", "check_hardware", "merge_runs", "ForeignBaselineError"]


# Where raw samples come from: per-round seconds, and ratios measured in interleaved pairs.
SAMPLE_SOURCES = ("time", "rel_time", "norm_time")
# Their keys in extra_info and in gate_confirm.
SAMPLE_KEYS = {"time": "samples_s", "rel_time": "rel_time_samples", "norm_time": "norm_time_samples"}


class ForeignBaselineError(VBenchError):
    """The baseline was measured on other hardware or software (another ``hardware_key``)."""


@dataclass
class CellRecord:
    """One benchmarked cell: its pytest-benchmark name, vbench ``extra_info`` and raw samples (s)."""

    fullname: str
    name: str
    extra: dict[str, Any]
    samples: list[float] | None
    # Set on runs pooled by merge_runs: each session's own samples, for the between-session spread.
    sessions: dict[str, tuple[list[float], ...]] = field(default_factory=dict)  # source -> per-session samples

    @property
    def label(self) -> str:
        """Short display name: the cell id (``resnet18-eager-bs8-64px``) or the test name."""
        return self.name.split("[", 1)[1].rstrip("]") if "[" in self.name else self.name

    def samples_of(self, source: str) -> list[float] | None:
        """Raw samples of ``source``: ``time`` (per-round seconds) or a ratio measured in pairs,
        ``rel_time`` (cell / eager) or ``norm_time`` (cell / machine probe)."""
        return self.samples if source == "time" else self.extra.get(SAMPLE_KEYS[source])

    def session_samples(self, source: str) -> tuple[list[float], ...]:
        """Per-session samples of ``source`` of a pooled run; () otherwise."""
        return self.sessions.get(source, ())

    def confirm_samples(self, source: str, *, fresh: bool = False) -> list[float] | None:
        """The gate's confirmation re-measure of ``source``, if it ran: in this process, or with
        ``fresh`` in a new one (``gate_confirm.fresh``)."""
        confirm = self.extra.get("gate_confirm") or {}
        if fresh:
            confirm = confirm.get("fresh") or {}
        return confirm.get(SAMPLE_KEYS[source]) or None


@dataclass
class Run:
    """A whole run: where it came from, its hardware key and its cells by pytest-benchmark fullname."""

    source: str
    hardware_key: str | None
    cells: dict[str, CellRecord] = field(default_factory=dict)
    machine_info: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> reason, from vbench's JSON block

    def missing_samples(self) -> list[str]:
        return [c.label for c in self.cells.values() if not c.samples]


def run_from_json(data: Any, source: str, *, require_samples: bool = True) -> Run:
    """Build a :class:`Run` from parsed pytest-benchmark JSON (``source`` names it in errors)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("benchmarks"), list):
        raise VBenchError(f"{source} is not pytest-benchmark JSON (no 'benchmarks' list)")
    machine = data.get("machine_info")
    if not isinstance(machine, Mapping):
        raise VBenchError(f"{source} is not pytest-benchmark JSON (no 'machine_info')")
    run = Run(source, machine.get("hardware_key"), machine_info=dict(machine))
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, Mapping) or not isinstance(bench.get("stats"), Mapping) or "fullname" not in bench:
            raise VBenchError(f"{source} is not pytest-benchmark JSON (benchmark {i + 1} has no 'fullname'/'stats')")
        samples = bench["stats"].get("data")
        record = CellRecord(
            str(bench["fullname"]),
            str(bench.get("name", bench["fullname"])),
            dict(bench.get("extra_info") or {}),
            [float(x) for x in samples] if isinstance(samples, list) and samples else None,
        )
        run.cells[record.fullname] = record
    for entry in (data.get("vbench") or {}).get("skipped", []) or []:
        if isinstance(entry, Mapping) and "id" in entry:
            run.skipped[str(entry["id"])] = str(entry.get("reason", ""))
    missing = run.missing_samples()
    if require_samples and missing:
        raise VBenchError(
            f"{source} has no raw per-round samples (stats.data) for {len(missing)} of {len(run.cells)} cell(s), "
            f"e.g. {missing[0]}; vbench keeps them in every run it saves (or use --benchmark-save-data)"
        )
    return run


def load_run(path: str | Path, *, require_samples: bool = True) -> Run:
    """Read and validate a pytest-benchmark JSON file; raises :class:`VBenchError` in one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise VBenchError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise VBenchError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not text.strip():
        raise VBenchError(f"{path} is empty (an interrupted write?)")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VBenchError(
            f"{path} is not valid JSON (truncated or corrupt at line {exc.lineno}, column {exc.colno})"
        ) from None
    return run_from_json(data, str(path), require_samples=require_samples)


def check_hardware(baseline: Run, current_key: str | None, *, allow_foreign: bool) -> bool:
    """Raise :class:`ForeignBaselineError` when the keys differ, unless ``allow_foreign``.

    Returns True when the comparison is cross-hardware (keys differ or one is unknown).
    """
    if baseline.hardware_key and current_key and baseline.hardware_key == current_key:
        return False
    if not allow_foreign:
        raise ForeignBaselineError(
            f"baseline {baseline.source} was measured on hardware key {baseline.hardware_key or 'unknown'!s}, "
            f"this run is {current_key or 'unknown'}; refusing to compare (--vb-allow-foreign-baseline to force)"
        )
    return True


def merge_runs(runs: Iterable[Run], source: str) -> Run:
    """Pool several runs of the same cells (stored baselines, ``vbench ab``'s sessions) into one.

    Raw time samples and relative-time samples are concatenated, and each run's own samples are kept
    per cell (:meth:`CellRecord.session_samples`) so the gate can see how far whole sessions disagree;
    numeric metrics (memory, cold start, ...) keep the median over the runs.
    """
    import statistics

    runs = list(runs)
    if not runs:
        raise VBenchError("nothing to merge")
    keys = {run.hardware_key for run in runs}
    # Mixed keys (only ever merged with --vb-allow-foreign-baseline): unknown, so every row is cross-hardware.
    merged = Run(source, keys.pop() if len(keys) == 1 else None, machine_info=runs[0].machine_info)
    per_session: dict[str, dict[str, list[list[float]]]] = {}
    values: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        merged.skipped.update(run.skipped)
        for name, cell in run.cells.items():
            if name not in merged.cells:
                extra = {k: v for k, v in cell.extra.items() if k != "gate_confirm"}
                merged.cells[name] = CellRecord(cell.fullname, cell.name, extra, None)
            sessions = per_session.setdefault(name, {source: [] for source in SAMPLE_SOURCES})
            for source in SAMPLE_SOURCES:
                if samples := cell.samples_of(source):
                    sessions[source].extend(cell.session_samples(source) or (list(samples),))
            for key, value in cell.extra.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values.setdefault(name, {}).setdefault(key, []).append(value)
    for name, cell in merged.cells.items():
        sessions = per_session[name]
        cell.sessions = {source: tuple(s) for source, s in sessions.items() if s}
        for key, vals in values.get(name, {}).items():
            cell.extra[key] = statistics.median(vals)
        pooled = {source: [x for session in s for x in session] for source, s in sessions.items() if s}
        cell.samples = pooled.pop("time", None)
        for source, samples in pooled.items():
            cell.extra[SAMPLE_KEYS[source]] = samples
    return merged
