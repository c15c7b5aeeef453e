"""Summarise a gate study made with ``bench/study/sessions.py``: run-level red rate of unchanged
sessions with Clopper-Pearson intervals, per-check false alarms, and what injected slowdowns caught.

    python bench/study/analyze.py DIR [--k 10] [--family resnet] [--md OUT.md] [--json OUT.json]
        [--effect resnet:stage_x2=AB.json ...]

``--effect`` names a ``vbench ab --json`` verdict file that measured an injected unit's own effect on
every cell (A without it, B with it, in interleaved pairs): the injected family's cells are then also
counted by that effect, which the trial's own noisy session does not blur.

Reads ``DIR/sessions.jsonl`` and each session's verdict JSON (written by the real gate while the
session ran). A *trial* is a judged session with at least K baseline sessions before it. Trials of
unchanged sessions are reported twice: all of them (rolling windows: consecutive trials share
baseline sessions, so they are not independent) and the non-overlapping subset (no session used by
two trials), which the interval is honest for.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from vbench.compare.policy import DEFAULT_BASELINE_RUNS

__all__ = ["clopper_pearson", "Trial", "load_trials", "summarise", "main"]


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for ``k`` successes in ``n`` trials."""
    from scipy.stats import beta

    if n == 0:
        return 0.0, 1.0
    alpha = 1 - level
    low = 0.0 if k == 0 else float(beta.ppf(alpha / 2, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - alpha / 2, k + 1, n - k))
    return low, high


@dataclass
class Trial:
    """One judged session: its index, injection, exit status and verdict rows."""

    index: int
    inject: str | None
    exit: int
    wall_s: float
    load: float
    sessions: int
    checks: int
    rows: list[dict] = field(default_factory=list)
    uses: frozenset[str] = frozenset()  # the session files this trial judged and was judged against

    @property
    def red(self) -> bool:
        return self.exit == 1

    def verdicts(self, verdict: str) -> list[dict]:
        return [r for r in self.rows if r["verdict"] == verdict]


def _stored(folder: Path) -> list[Path]:
    """Stored sessions, as the study wrote them (storage/KEY/*.json) or as archived (storage/*.json.gz)."""
    return sorted([*(folder / "storage").glob("*/[0-9][0-9][0-9][0-9]_*.json"),
                   *(folder / "storage").glob("[0-9][0-9][0-9][0-9]_*.json.gz")], key=lambda p: p.name)


def _log_text(folder: Path, record: dict) -> str:
    log = folder / record.get("log", "")
    if log.is_file():
        return log.read_text(errors="replace")
    archived = log.with_name(log.name + ".gz")
    return gzip.decompress(archived.read_bytes()).decode(errors="replace") if archived.is_file() else ""


def stored_file(folder: Path, record: dict) -> Path | None:
    """The stored JSON of a journal line: named in its log's "Saved benchmark data in: ..." line,
    else by its running number (which matches while no unsaved session came before it)."""
    stored = _stored(folder)
    for line in _log_text(folder, record).splitlines():
        if "Saved benchmark data in:" in line:
            name = Path(line.split("Saved benchmark data in:", 1)[1].strip()).name
            match = [p for p in stored if p.name in (name, name + ".gz")]
            if match:
                return match[0]
    if not record.get("saved", True):
        return None
    matches = [p for p in stored if p.name.startswith(f"{record['index']:04d}_")]
    return matches[0] if matches else None


def _load(path: Path):
    """:func:`vbench.compare.load_run` of a file that may be gzipped."""
    import tempfile

    from vbench.compare import load_run

    if path.suffix != ".gz":
        return load_run(path)
    with tempfile.TemporaryDirectory() as tmp:
        plain = Path(tmp) / path.name[:-3]
        plain.write_bytes(gzip.decompress(path.read_bytes()))
        run = load_run(plain)
    run.source = path.name[:-3]
    return run


def mark_early_leavers(run) -> None:
    """What the gate records since it keeps an early leaver's decision (``gate_confirm.decided``),
    for a session judged before it did: a cell with fewer A/B pairs than the most any cell of the
    session got left the pairs early, as decided."""
    pairs = {name: len(cell.confirm_pairs("time")) for name, cell in run.cells.items()}
    most = max(pairs.values(), default=0)
    for name, n in pairs.items():
        if 0 < n < most:
            run.cells[name].extra["gate_confirm"].setdefault("decided", n)


def rejudge(folder: Path, index: int, k: int, record: dict | None = None, infer_decided: bool = False) -> dict:
    """The verdict JSON of stored session ``index`` judged again by this checkout's gate engine,
    against the newest ``k`` usable stored sessions before it (the fresh confirmation sessions the
    live gate ran are in the stored session's cells); ``infer_decided``: :func:`mark_early_leavers`
    first."""
    from vbench.compare import GatePolicy, compare_sessions
    from vbench.errors import VBenchError

    stored = _stored(folder)
    unsaved = [p for p in (folder / "runs" / f"{index:04d}.json", folder / "runs" / f"{index:04d}.json.gz")
               if p.is_file()]
    if unsaved:  # a session judged but not stored: its baselines are what was stored before it
        current = unsaved[0]
        before = [p for p in stored if p.name[:4] <= (record or {}).get("stored_before", "9999")]
    else:
        current = stored_file(folder, record or {"index": index})
        before = [p for p in stored if p.name < current.name]
    run = _load(current)
    if infer_decided:
        mark_early_leavers(run)
    notes, baselines = [], []
    for path in reversed(before):  # the newest k usable, plus two spares, as the gate picks them
        if len(baselines) == k + 2:
            break
        try:
            candidate = _load(path)
        except VBenchError as exc:
            notes.append(f"baseline session skipped: {exc}")
            continue
        if candidate.complete is not False:
            baselines.insert(0, candidate)
    device = next((c.extra.get("device") for c in run.cells.values() if c.extra.get("device")), "cpu")
    from vbench.compare.options import GateSettings

    report = compare_sessions(baselines, run, GatePolicy.build(device_type=str(device)),
                              confirm_planned=GateSettings.confirm_sessions, keep=k)
    report.notes[:0] = notes
    return report.as_dict()


def load_trials(folder: Path, k: int, rejudged: bool = False, first: int = 1,
                infer_decided: bool = False) -> list[Trial]:
    """Judged sessions with at least ``k`` baseline sessions, in order; with ``rejudged`` their
    verdicts are computed again by this checkout's engine (:func:`rejudge`)."""
    trials = []
    for line in (folder / "sessions.jsonl").read_text().splitlines():
        record = json.loads(line)
        if not record.get("verdict") or record["index"] < first:
            continue
        verdict = json.loads((folder / record["verdict"]).read_text())
        if rejudged:
            verdict = rejudge(folder, record["index"], k, record, infer_decided)
            record["exit"] = verdict["exit_status"]
        if (verdict.get("baseline_sessions") or 0) < k:
            continue
        own = stored_file(folder, record) if record.get("saved", True) else None
        # by name without ".gz": live verdicts name the stored JSON, the judged session's own file
        # (and a re-judged verdict's baselines) may be the archived copy
        uses = frozenset(Path(p).name.removesuffix(".gz") for p in verdict.get("baseline_files") or ()) | (
            {own.name.removesuffix(".gz")} if own is not None else set())
        trials.append(Trial(record["index"], record.get("inject"), record["exit"], record["wall_s"],
                            record.get("load_before", 0.0), verdict["baseline_sessions"], verdict["checks"],
                            verdict["rows"], uses if verdict.get("baseline_files") else frozenset()))
    return trials


def _non_overlapping(trials: list[Trial], k: int) -> list[Trial]:
    """Trials whose sessions (the judged one and its baselines) no other chosen trial uses: by the
    files the verdicts name where they do, else by running numbers (k sessions before each)."""
    if trials and all(t.uses for t in trials):
        chosen, used = [], set()
        for trial in trials:
            if not trial.uses & used:
                chosen.append(trial)
                used |= trial.uses
        return chosen
    chosen, next_free = [], 0
    for trial in trials:
        if trial.index - k >= next_free + 1 or (not chosen and trial.index - k >= 1):
            chosen.append(trial)
            next_free = trial.index
    return chosen


def _calibration(trials: list[Trial]) -> dict:
    """How often unchanged sessions' gated checks (as first measured, before any fresh session) fell
    beyond one check's 5% and 1% levels of the t model: near 5% and 1% when the bounds fit the noise."""
    p = [r.get("p_value") for t in trials for r in t.rows
         if r.get("tolerance") is not None and r["verdict"] != "not gated" and not r.get("confirm")
         and r["metric"] not in ("gmacs", "params", "-")]
    n = len(p)
    below = {level: sum(1 for v in p if v is not None and v < level) for level in (0.05, 0.01)}
    return {"checks": n, "p<0.05": _rate(below[0.05], n), "p<0.01": _rate(below[0.01], n)}


def _rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} (95% CI {low:.1%} .. {high:.1%})"


def _remeasured(trial: Trial) -> int:
    """Cells the gate re-measured in this trial (fresh sessions or A/B pairs)."""
    return len({r["cell"] for r in trial.rows if r.get("confirm")})


def load_effects(specs: list[str]) -> dict[str, dict[str, float]]:
    """``UNIT=FILE`` -> {unit: {cell: change}} from ``vbench ab --json`` verdicts (the gated metric:
    norm_time on CPU, else latency_median)."""
    out: dict[str, dict[str, float]] = {}
    for spec in specs:
        unit, _, path = spec.partition("=")
        rows = json.loads(Path(path).read_text())["rows"]
        gated = {r["cell"]: r["change"] for r in rows if r["metric"] == "norm_time" and r["change"] is not None}
        out[unit] = gated or {r["cell"]: r["change"] for r in rows
                              if r["metric"] == "latency_median" and r["change"] is not None}
    return out


def summarise(trials: list[Trial], k: int, family: str, effects: dict[str, dict[str, float]] | None = None) -> dict:
    """The study's numbers as a plain dict (see the module docstring)."""
    unchanged = [t for t in trials if not t.inject]
    independent = _non_overlapping(unchanged, k)
    checks = sum(t.checks for t in unchanged)
    false_rows = sum(len(t.verdicts("regressed")) for t in unchanged)
    out: dict = {
        "k": k,
        "unchanged": {
            "trials": len(unchanged), "red": sum(t.red for t in unchanged),
            "red_rate": _rate(sum(t.red for t in unchanged), len(unchanged)),
            "non_overlapping_trials": [t.index for t in independent],
            "non_overlapping_red_rate": _rate(sum(t.red for t in independent), len(independent)),
            "checks": checks, "regressed_rows": false_rows, "per_check_rate": _rate(false_rows, checks),
            "inconclusive_rows": sum(len(t.verdicts("inconclusive")) for t in unchanged),
            "calibration": _calibration(unchanged),
            "regressed": [(t.index, r["cell"], r["metric"], r["change"]) for t in unchanged for r in t.verdicts("regressed")],
            "wall_s": [t.wall_s for t in unchanged],
            "remeasured_cells": [_remeasured(t) for t in unchanged],
        },
        "injected": {},
    }
    by_change: dict[str, list[bool]] = {}
    by_effect: dict[str, list[bool]] = {}
    for trial in (t for t in trials if t.inject):
        gated = [r for r in trial.rows if r["metric"] == "norm_time" or (r["metric"] == "latency_median" and r["tolerance"])]
        ours = [r for r in gated if f" {family}" in r["cell"] and not r["cell"].startswith("data ")]
        others = [r for r in trial.rows if r["verdict"] == "regressed" and f" {family}" not in r["cell"]]
        caught = [r for r in ours if r["verdict"] == "regressed"]
        effect = (effects or {}).get(trial.inject, {})
        for r in ours:
            if r["change"] is not None:
                by_change.setdefault(_bin(r["change"]), []).append(r["verdict"] == "regressed")
            if effect.get(r["cell"]) is not None:
                by_effect.setdefault(_bin(effect[r["cell"]]), []).append(r["verdict"] == "regressed")
        out["injected"].setdefault(trial.inject, []).append({
            "index": trial.index, "family_cells": len(ours), "caught": len(caught),
            "caught_rate": _rate(len(caught), len(ours)),
            "changes": sorted(round(r["change"], 4) for r in ours if r["change"] is not None),
            "missed": [(r["cell"], r["change"], r["verdict"], r["can_catch"]) for r in ours if r["verdict"] != "regressed"],
            "other_family_regressed": [(r["cell"], r["metric"], r["change"]) for r in others],
            "wall_s": trial.wall_s, "remeasured_cells": _remeasured(trial),
        })
    out["injected_by_change"] = {b: _rate(sum(v), len(v)) for b, v in sorted(by_change.items(), key=lambda kv: _BINS.index(kv[0]))}
    out["injected_by_effect"] = {b: _rate(sum(v), len(v)) for b, v in sorted(by_effect.items(), key=lambda kv: _BINS.index(kv[0]))}
    return out


# Bins of the change the gate measured on an injected family's cells (of its fresh sessions where it
# ran them, else of the session itself).
_BINS = ["< +2.5%", "+2.5% .. +7.5%", "+7.5% .. +12.5%", "+12.5% .. +17.5%", ">= +17.5%"]


def _bin(change: float) -> str:
    edges = (0.025, 0.075, 0.125, 0.175)
    return _BINS[sum(change >= e for e in edges)]


def markdown(summary: dict) -> str:
    """The summary as a short Markdown report."""
    u = summary["unchanged"]
    lines = [
        f"K = {summary['k']} baseline sessions.",
        "",
        "| unchanged sessions | red runs | per-check false alarms | inconclusive rows |",
        "|---|---|---|---|",
        f"| all trials (rolling windows) | {u['red_rate']} | {u['per_check_rate']} | {u['inconclusive_rows']} |",
        f"| non-overlapping trials {u['non_overlapping_trials']} | {u['non_overlapping_red_rate']} | | |",
        "",
        f"Calibration over {u['calibration']['checks']} gated checks of unchanged sessions judged on their own "
        f"session: one-sided p < 0.05 in {u['calibration']['p<0.05']} (nominal 5%), p < 0.01 in "
        f"{u['calibration']['p<0.01']} (nominal 1%).",
        "",
    ]
    if u["wall_s"]:
        walls, cells = sorted(u["wall_s"]), sorted(u["remeasured_cells"])
        lines += [f"Unchanged sessions took {walls[0]:.0f}-{walls[-1]:.0f} s (median {walls[len(walls) // 2]:.0f} s) and "
                  f"re-measured {cells[0]}-{cells[-1]} cells (median {cells[len(cells) // 2]}).", ""]
    if u["regressed"]:
        lines += ["Regressed rows in unchanged sessions:", ""] + [f"- session {i}: {c} {m} {ch:+.1%}" for i, c, m, ch in u["regressed"]] + [""]
    if summary["injected"]:
        lines += ["| injected | session | family cells caught | median change | other families regressed |", "|---|---|---|---|---|"]
        for inject, runs in summary["injected"].items():
            for r in runs:
                changes = r["changes"]
                median = changes[len(changes) // 2] if changes else float("nan")
                lines.append(f"| {inject} | {r['index']} | {r['caught_rate']} | {median:+.1%} | {len(r['other_family_regressed'])} |")
        lines += ["", "| measured change of the family's cells (the verdict's own) | called regressed |", "|---|---|"]
        lines += [f"| {b} | {rate} |" for b, rate in summary["injected_by_change"].items()]
        if summary.get("injected_by_effect"):
            lines += ["", "| the unit's effect on the cell (vbench ab, --effect) | called regressed |", "|---|---|"]
            lines += [f"| {b} | {rate} |" for b, rate in summary["injected_by_effect"].items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--k", type=int, default=DEFAULT_BASELINE_RUNS,
                        help=f"baseline sessions a trial needs (default {DEFAULT_BASELINE_RUNS}, as the gate)")
    parser.add_argument("--family", default="resnet", help="the injected family's model-name prefix")
    parser.add_argument("--md", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--first", type=int, default=1, help="only sessions from this running number on")
    parser.add_argument("--effect", action="append", default=[], metavar="UNIT=FILE",
                        help="a vbench ab --json verdict file measuring an injected unit's effect per cell")
    parser.add_argument("--rejudge", action="store_true",
                        help="judge every stored session again with this checkout's engine (same data)")
    parser.add_argument("--infer-decided", action="store_true",
                        help="with --rejudge: mark the cells that left the A/B pairs early, as the gate now "
                             "records it, in sessions judged before it did")
    args = parser.parse_args(argv)
    if args.infer_decided and not args.rejudge:
        parser.error("--infer-decided needs --rejudge")
    summary = summarise(load_trials(args.folder, args.k, args.rejudge, args.first, args.infer_decided), args.k, args.family,
                        load_effects(args.effect))
    text = markdown(summary)
    print(text)
    if args.md:
        args.md.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
