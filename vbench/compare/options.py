"""The gate's ``--vb-*`` options, declared once (like :data:`vbench.settings.OPTIONS`) and resolved
into a plain :class:`GateSettings` dataclass, so both the pytest plugin and tests use it without a
pytest config object.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from vbench.compare.policy import DEFAULT_FAIL_ON, GatePolicy
from vbench.errors import VBenchError
from vbench.settings import OptionSpec

__all__ = ["GATE_OPTIONS", "GATE_FLAGS", "GateSettings", "resolve_gate_settings"]

GATE_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("fail_on", "tolerances per category (time, tail, relative, memory, rss, cold_start; a percentage or off); "
               "per-cell overrides in the matrix file's gate: block", DEFAULT_FAIL_ON, "CAT:PCT,..."),
    OptionSpec("alpha", "significance level a time change must reach (Mann-Whitney U p-value, and the 95% "
               "bootstrap interval of the ratio must exclude 1)", "0.01", "P"),
    OptionSpec("confirm_rounds", "rounds re-measured, in the same process, for a cell that looks regressed "
               "before it fails the run; auto = max(10, 2 x the cell's rounds); 0 = no confirmation",
               "auto", "N|auto"),
    OptionSpec("baseline_runs", "with --benchmark-compare from storage: pool the newest N stored runs of this "
               "hardware_key as the baseline; with N >= 2 a time tolerance widens to how far those sessions "
               "disagree with each other, per cell", "1", "N"),
    OptionSpec("confirm_process", "re-measure cells still regressed after the in-process confirmation in a fresh "
               "pytest process (same arguments, only those cells) and fail only if they regress there too: on or off",
               "on", "on|off"),
    OptionSpec("relative", "also time each cell interleaved with its eager reference (same model and batch) "
               "and judge the ratio, which cancels machine drift: on or off", "off", "on|off"),
    OptionSpec("relative_pairs", "interleaved call pairs per cell for --vb-relative",
               "10", "N"),
    OptionSpec("verdict_md", "write the verdict table as Markdown here (also appended to $GITHUB_STEP_SUMMARY "
               "when that is set)", None, "FILE"),
    OptionSpec("verdict_json", "write the verdicts as JSON here", None, "FILE"),
)
# Flags take no value on the command line (ini: true/false).
GATE_FLAGS: tuple[OptionSpec, ...] = (
    OptionSpec("allow_foreign_baseline", "compare with a baseline of another hardware_key anyway "
               "(every verdict is marked cross-hardware)"),
)


@dataclass(frozen=True)
class GateSettings:
    """Resolved gate options."""

    policy: GatePolicy
    confirm_rounds: int | None  # None: auto
    relative: bool = False
    confirm_process: bool = True
    relative_pairs: int = 10
    baseline_runs: int = 1
    allow_foreign: bool = False
    verdict_md: Path | None = None
    verdict_json: Path | None = None

    def rounds_to_confirm(self, measured_rounds: int) -> int:
        """How many rounds the confirmation re-measure takes for a cell measured with ``measured_rounds``."""
        return max(10, 2 * measured_rounds) if self.confirm_rounds is None else self.confirm_rounds


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise VBenchError(f"--vb-{name.replace('_', '-')} must be an integer >= {minimum}, got {text!r}")
    return value


def _flag(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def resolve_gate_settings(
    get: Callable[[OptionSpec], object] | Mapping[str, object], matrix: str | Path | None = None
) -> GateSettings:
    """Build :class:`GateSettings` from raw option values (``get(spec)`` or a mapping by name).

    ``matrix`` is the run's matrix file, whose ``gate:`` block holds per-cell overrides.
    Raises :class:`VBenchError` on bad input.
    """
    if isinstance(get, Mapping):
        mapping = get
        get = lambda spec: mapping.get(spec.name)  # noqa: E731
    raw = {s.name: (v if (v := get(s)) not in (None, "") else s.default) for s in GATE_OPTIONS}
    try:
        alpha = float(raw["alpha"])
    except ValueError:
        raise VBenchError(f"--vb-alpha must be a number between 0 and 1, got {raw['alpha']!r}") from None
    confirm = None if str(raw["confirm_rounds"]).strip() == "auto" else _int("confirm_rounds", raw["confirm_rounds"], 0)
    switches = {}
    for name in ("relative", "confirm_process"):
        value = str(raw[name]).strip().lower()
        if value not in ("on", "off", "true", "false", "1", "0"):
            raise VBenchError(f"--vb-{name.replace('_', '-')} must be on or off, got {raw[name]!r}")
        switches[name] = value in ("on", "true", "1")
    # Unset --vb-fail-on leaves the matrix file's gate.fail_on (then the defaults) in charge.
    user_fail_on = get(GATE_OPTIONS[0]) or None
    return GateSettings(
        policy=GatePolicy.build(user_fail_on, matrix, alpha),
        confirm_rounds=confirm,
        relative=switches["relative"],
        confirm_process=switches["confirm_process"],
        relative_pairs=_int("relative_pairs", raw["relative_pairs"], 2),
        baseline_runs=_int("baseline_runs", raw["baseline_runs"], 1),
        allow_foreign=_flag(get(GATE_FLAGS[0]) or False),
        verdict_md=Path(raw["verdict_md"]) if raw["verdict_md"] else None,
        verdict_json=Path(raw["verdict_json"]) if raw["verdict_json"] else None,
    )
