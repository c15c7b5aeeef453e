"""Benchmark runs read from pytest-benchmark JSON, validated, and checked for matching hardware.

Every problem with a file is one :class:`~vbench.errors.VBenchError` line naming the file: missing,
truncated or corrupt JSON, JSON that is not pytest-benchmark's, no raw per-round samples. Files are
only ever read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vbench.errors import VBenchError

__all__ = ["SAMPLE_SOURCES", "SAMPLE_KEYS", "CellRecord", "Run", "load_run", "run_from_json", "check_hardware",
           "ForeignBaselineError", "expand_json_paths"]


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
    stats: dict[str, Any] = field(default_factory=dict)  # pytest-benchmark's summary (median, q1, q3, ...; s)

    @property
    def label(self) -> str:
        """Short display name: the cell id (``resnet18-eager-bs8-64px``) or the test name."""
        return self.name.split("[", 1)[1].rstrip("]") if "[" in self.name else self.name

    def samples_of(self, source: str) -> list[float] | None:
        """Raw samples of ``source``: ``time`` (per-round seconds) or a ratio measured in pairs,
        ``rel_time`` (cell / eager) or ``norm_time`` (cell / machine probe)."""
        return self.samples if source == "time" else self.extra.get(SAMPLE_KEYS[source])

    @property
    def display(self) -> str:
        """The label with the cell's mode (inference, train and data cells share ids)."""
        mode = self.extra.get("mode")
        return f"{mode} {self.label}" if mode else self.label

    @property
    def _gate_confirm(self) -> Mapping:
        """``extra_info.gate_confirm``: the fresh confirmation sessions the gate ran ({} when none)."""
        confirm = self.extra.get("gate_confirm")
        return confirm if isinstance(confirm, Mapping) else {}

    def _confirm_session_list(self) -> list[Mapping]:
        sessions = self._gate_confirm.get("sessions")
        return [s for s in sessions if isinstance(s, Mapping)] if isinstance(sessions, list) else []

    def confirm_sessions(self, source: str) -> list[list[float]]:
        """Raw samples of ``source`` from each fresh confirmation session the gate ran for this cell
        (``extra_info.gate_confirm.sessions``); [] when none ran."""
        out = []
        for session in self._confirm_session_list():
            samples = session.get(SAMPLE_KEYS[source])
            if isinstance(samples, list) and samples:
                out.append([float(x) for x in samples])
        return out

    @property
    def confirm_planned(self) -> int:
        """How many fresh sessions the gate meant to run for this cell (``gate_confirm.planned``): a
        regression is called only on all of them. 0 when the file does not say (written before it
        did): the sessions there are judged as they are."""
        planned = self._gate_confirm.get("planned")
        return planned if isinstance(planned, int) and planned > 0 else 0

    @property
    def confirm_decided(self) -> int:
        """How many A/B pairs this cell had when the gate stopped re-measuring it as decided before its
        last planned pair (``gate_confirm.decided``); 0 when it did not stop early or the file does not say."""
        decided = self._gate_confirm.get("decided")
        return decided if isinstance(decided, int) and decided > 0 else 0

    @property
    def confirm_against(self) -> str:
        """The commit the gate's A/B pairs ran against (``gate_confirm.against``; "" when none did)."""
        against = self._gate_confirm.get("against")
        return against if isinstance(against, str) else ""

    def confirm_pairs(self, source: str) -> list[tuple[list[float], list[float]]]:
        """Raw samples of ``source`` from each A/B pair the gate ran for this cell, ``(baseline
        revision, this revision)`` (``extra_info.gate_confirm.pairs``); [] when none ran."""
        pairs = self._gate_confirm.get("pairs")
        out = []
        for pair in pairs if isinstance(pairs, list) else []:
            sides = [pair.get(side) if isinstance(pair, Mapping) else None for side in ("base", "current")]
            samples = [side.get(SAMPLE_KEYS[source]) if isinstance(side, Mapping) else None for side in sides]
            if all(isinstance(x, list) and x for x in samples):
                out.append(([float(x) for x in samples[0]], [float(x) for x in samples[1]]))
        return out

    def confirm_loads(self) -> list[float]:
        """The 1-minute load average each fresh confirmation session recorded for this cell."""
        return [float(s["load_avg_1m"]) for s in self._confirm_session_list()
                if isinstance(s.get("load_avg_1m"), (int, float))]


@dataclass
class Run:
    """A whole run: where it came from, its hardware key and its cells by pytest-benchmark fullname."""

    source: str
    hardware_key: str | None
    cells: dict[str, CellRecord] = field(default_factory=dict)
    machine_info: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> reason, from vbench's JSON block
    complete: bool | None = None  # vbench.complete: False for a session interrupted before its end
    schema_version: int | None = None  # vbench.schema_version
    deselected: set[str] = field(default_factory=set)  # fullnames of cells -k / -m deselected (vbench.deselected)
    commit_info: dict[str, Any] = field(default_factory=dict)  # pytest-benchmark's git info (id, time, branch, dirty)
    datetime: str = ""  # when pytest-benchmark saved it (ISO 8601; "" when the file has none)
    commit: str = ""  # commit_info.id, first 12 characters
    # The commit the gate planned to confirm suspects against in A/B pairs (vbench.confirm_against):
    # the run-level level is then split between the stored-session checks and the pairs.
    confirm_against: str = ""
    label: str = ""  # a short name for tables: the file's stem

    def missing_samples(self) -> list[str]:
        return [c.label for c in self.cells.values() if not c.samples]


def run_from_json(data: Any, source: str, *, require_samples: bool = True) -> Run:
    """Build a :class:`Run` from parsed pytest-benchmark JSON (``source`` names it in errors)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("benchmarks"), list):
        raise VBenchError(f"{source} is not pytest-benchmark JSON (no 'benchmarks' list)")
    machine = data.get("machine_info")
    if not isinstance(machine, Mapping):
        raise VBenchError(f"{source} is not pytest-benchmark JSON (no 'machine_info')")
    commit_info = dict(data["commit_info"]) if isinstance(data.get("commit_info"), Mapping) else {}
    run = Run(source, machine.get("hardware_key"), machine_info=dict(machine), commit_info=commit_info,
              datetime=data["datetime"] if isinstance(data.get("datetime"), str) else "",
              commit=str(commit_info.get("id") or "")[:12], label=Path(source).stem)
    for i, bench in enumerate(data["benchmarks"]):
        if not isinstance(bench, Mapping) or not isinstance(bench.get("stats"), Mapping) or "fullname" not in bench:
            raise VBenchError(f"{source} is not pytest-benchmark JSON (benchmark {i + 1} has no 'fullname'/'stats')")
        samples = bench["stats"].get("data")
        record = CellRecord(
            str(bench["fullname"]),
            str(bench.get("name", bench["fullname"])),
            dict(bench.get("extra_info") or {}),
            _samples(samples, source, i) if isinstance(samples, list) and samples else None,
            {k: v for k, v in bench["stats"].items() if k != "data"},
        )
        run.cells[record.fullname] = record
    block = data.get("vbench") if isinstance(data.get("vbench"), Mapping) else {}
    run.complete = block.get("complete") if isinstance(block.get("complete"), bool) else None
    run.schema_version = block.get("schema_version") if isinstance(block.get("schema_version"), int) else None
    run.deselected = {str(n) for n in block.get("deselected", []) or [] if isinstance(n, str)}
    run.confirm_against = block["confirm_against"] if isinstance(block.get("confirm_against"), str) else ""
    for entry in block.get("skipped", []) or []:
        if isinstance(entry, Mapping) and "id" in entry:
            run.skipped[str(entry["id"])] = str(entry.get("reason", ""))
    missing = run.missing_samples()
    if require_samples and missing:
        raise VBenchError(
            f"{source} has no raw per-round samples (stats.data) for {len(missing)} of {len(run.cells)} cell(s), "
            f"e.g. {missing[0]}; vbench keeps them in every run it saves (or use --benchmark-save-data)"
        )
    return run


def _samples(values: list, source: str, index: int) -> list[float]:
    """Raw per-round seconds, validated: numbers, finite, not negative, not all zero."""
    try:
        out = [float(x) for x in values]
    except (TypeError, ValueError):
        raise VBenchError(f"{source}: benchmark {index + 1} has non-numeric samples (stats.data)") from None
    if not all(math.isfinite(x) and x >= 0 for x in out) or not any(out):
        raise VBenchError(f"{source}: benchmark {index + 1} has samples that are not finite positive times "
                          "(NaN, infinite, negative or all zero)")
    return out


def expand_json_paths(targets) -> tuple[list[Path], list[Path], list[Path]]:
    """Files and storage folders (searched recursively, as pytest-benchmark nests them by machine) to
    ``(json files, folders holding none, targets that do not exist)``; each caller words the last two."""
    files: list[Path] = []
    empty: list[Path] = []
    missing: list[Path] = []
    for target in targets:
        path = Path(target)
        if path.is_dir():
            found = sorted(path.rglob("*.json"))
            files += found
            if not found:
                empty.append(path)
        elif path.exists():
            files.append(path)
        else:
            missing.append(path)
    return files, empty, missing


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
