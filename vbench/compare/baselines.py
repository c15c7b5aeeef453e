"""Which stored sessions the gate judges against: the newest K usable ones, and why others were not."""

from __future__ import annotations

from pathlib import Path

from vbench.compare.runs import check_hardware, load_run
from vbench.errors import VBenchError

__all__ = ["select_baselines"]


def select_baselines(paths: list[Path], wanted: int, hardware_key: str, *, allow_foreign: bool = False,
                     schema_version: int | None = None, spare: int = 0) -> tuple[list[Path], list[str]]:
    """The newest ``wanted`` (plus up to ``spare`` older ones, to stand in for sessions the
    comparison leaves out as whole-session outliers) usable sessions among ``paths`` (given oldest
    first, as stored), oldest first, and one note for each session left out (unreadable, no raw
    samples, interrupted, another schema version) and for fewer than ``wanted``.

    Raises :class:`~vbench.compare.runs.ForeignBaselineError` for a session of another hardware key
    unless ``allow_foreign``. Each file is read once and dropped: the caller loads the chosen ones
    when it needs them.
    """
    chosen: list[Path] = []
    notes: list[str] = []
    for path in reversed(paths):
        if len(chosen) == wanted + spare:
            break
        try:
            run = load_run(path)
        except VBenchError as exc:
            notes.append(f"baseline session skipped: {exc}")
            continue
        if run.complete is False:
            notes.append(f"baseline session skipped: {path.name} was interrupted before its end")
            continue
        if schema_version is not None and run.schema_version not in (None, schema_version):
            notes.append(f"baseline session skipped: {path.name} has schema version {run.schema_version}, "
                         f"this run {schema_version}")
            continue
        check_hardware(run, hardware_key, allow_foreign=allow_foreign)
        chosen.append(path)
    if chosen and len(chosen) < wanted:
        notes.append(f"only {len(chosen)} of {wanted} baseline sessions stored (--vb-baseline-runs): judged with "
                     "what there is, the bounds are wider; every --benchmark-autosave run adds one")
    return list(reversed(chosen)), notes
