"""The gate's ``--vb-*`` options, declared once (like :data:`vbench.settings.OPTIONS`) and resolved
into a plain :class:`GateSettings` dataclass, so both the pytest plugin and tests use it without a
pytest config object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vbench.compare.policy import DEFAULT_ALPHA, DEFAULT_BASELINE_RUNS, DEVICE_FAIL_ON, GatePolicy
from vbench.errors import VBenchError
from vbench.settings import OptionSpec, parse_on_off

__all__ = ["GATE_OPTIONS", "GATE_FLAGS", "GateSettings", "resolve_gate_settings"]

GATE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("fail_on", "tolerances per category (time, tail, relative, memory, rss, cold_start; a percentage, or off: "
               "reported, not gated) on top of the device's defaults: on CPU the gate judges norm_time (relative), "
               "because a shared CPU's speed drifts between sessions and the machine probe cancels that, and "
               "reports absolute time; on CUDA it judges absolute time; per-cell overrides in the matrix file's "
               "gate: block", f"cpu {DEVICE_FAIL_ON['cpu']}; cuda {DEVICE_FAIL_ON['cuda']}", "CAT:PCT,..."),
    OptionSpec("alpha", "run-level false-alarm level: the chance that an unchanged run shows any regression, over "
               "all its checks (each check at alpha / checks, Bonferroni)", str(DEFAULT_ALPHA), "P"),
    OptionSpec("baseline_runs", "with --benchmark-compare from storage: judge against the newest N stored sessions "
               "of this hardware_key (each session one value per cell and metric); fewer stored: judged with "
               "what there is, with wider bounds", str(DEFAULT_BASELINE_RUNS), "N"),
    OptionSpec("confirm_sessions", "re-measures of suspect cells (same arguments, only those cells): N A/B pairs "
               "against the baseline's commit (--vb-confirm-ab), one pair of processes at a time, a regression "
               "called after N/2 or N pairs; or N fresh sessions, two at a time, a regression called on all N; a "
               "cell that clears stops early; the verdict is theirs; 0 = judge this session alone", "8", "N"),
    OptionSpec("confirm_ab", "confirm suspects against the commit of the newest baseline session: a git worktree "
               "of it and this checkout run the suspect cells at once, taking turns round by round (as vbench ab), "
               "in up to --vb-confirm-sessions pairs, so the machine's drift since the stored sessions lands on both "
               "sides; used when that commit is in this clone (CI: fetch-depth 0) and was measured without "
               "uncommitted changes, else fresh sessions are judged against the stored ones: on or off", "on", "on|off"),
    OptionSpec("relative", "also time each cell interleaved with its eager reference (same model and batch) "
               "and judge the ratio rel_time: on or off", "off", "on|off"),
    OptionSpec("relative_pairs", "interleaved call pairs per cell for --vb-relative", "10", "N"),
    OptionSpec("verdict_md", "write the verdict table as Markdown here (also appended to $GITHUB_STEP_SUMMARY "
               "when that is set)", None, "FILE"),
    OptionSpec("verdict_json", "write the verdicts as JSON here", None, "FILE"),
)
# Flags take no value on the command line (ini: true/false).
GATE_FLAGS: tuple[OptionSpec, ...] = (
    OptionSpec("allow_foreign_baseline", "compare with a baseline of another hardware_key anyway "
               "(every verdict is marked cross-hardware)"),
    OptionSpec("fail_on_inconclusive", "fail the run on an inconclusive verdict too (beyond the tolerance, "
               "not beyond the noise bound: more sessions would decide)"),
)


@dataclass(frozen=True)
class GateSettings:
    """Resolved gate options."""

    policy: GatePolicy
    confirm_sessions: int = 8
    confirm_ab: bool = True
    relative: bool = False
    relative_pairs: int = 10
    baseline_runs: int = DEFAULT_BASELINE_RUNS
    allow_foreign: bool = False
    verdict_md: Path | None = None
    verdict_json: Path | None = None


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise VBenchError(f"--vb-{name.replace('_', '-')} must be an integer >= {minimum}, got {text!r}")
    return value


def resolve_gate_settings(
    get: Callable[[OptionSpec], object] | Mapping[str, object], matrix: str | Path | None = None,
    device_type: str = "cpu",
) -> GateSettings:
    """Build :class:`GateSettings` from raw option values (``get(spec)`` or a mapping by name).

    ``matrix`` is the run's matrix file, whose ``gate:`` block holds per-cell overrides;
    ``device_type`` picks the default tolerances. Raises :class:`VBenchError` on bad input.
    """
    if isinstance(get, Mapping):
        mapping = get
        get = lambda spec: mapping.get(spec.name)  # noqa: E731
    raw = {s.name: (v if (v := get(s)) not in (None, "") else s.default) for s in GATE_OPTIONS}
    try:
        alpha = float(raw["alpha"])
    except ValueError:
        alpha = math.nan
    if not 0 < alpha < 1:
        raise VBenchError(f"--vb-alpha must be a number between 0 and 1, got {raw['alpha']!r}")
    relative = parse_on_off("relative", raw["relative"])
    flags = {spec.name: parse_on_off(spec.name, get(spec) or False) for spec in GATE_FLAGS}
    # Unset --vb-fail-on leaves the matrix file's gate.fail_on (then the device's defaults) in charge.
    user_fail_on = get(GATE_OPTIONS[0])
    return GateSettings(
        policy=GatePolicy.build(None if user_fail_on is None else str(user_fail_on), matrix, alpha,
                                device_type=device_type, fail_on_inconclusive=flags["fail_on_inconclusive"]),
        confirm_sessions=_int("confirm_sessions", raw["confirm_sessions"], 0),
        confirm_ab=parse_on_off("confirm_ab", raw["confirm_ab"]),
        relative=relative,
        relative_pairs=_int("relative_pairs", raw["relative_pairs"], 2),
        baseline_runs=_int("baseline_runs", raw["baseline_runs"], 1),
        allow_foreign=flags["allow_foreign_baseline"],
        verdict_md=Path(raw["verdict_md"]) if raw["verdict_md"] else None,
        verdict_json=Path(raw["verdict_json"]) if raw["verdict_json"] else None,
    )
