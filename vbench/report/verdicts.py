"""Which rows are "current" and which "baseline", and a simple per-cell verdict between them.

The regression gate (``vbench.compare``) is built separately; this module does not depend on it.
:func:`verdict_rows` returns plain rows (ratio of medians plus a verdict word), so the report's
comparison section can later take the gate's rows instead without changing its rendering.
"""

from __future__ import annotations

import pandas as pd

from vbench.errors import VBenchError
from vbench.report.load import CELL_KEY

__all__ = ["VERDICT_COLUMNS", "split_runs", "latest_cells", "verdict_rows"]

VERDICT_COLUMNS = (
    "hardware_key", *CELL_KEY, "baseline_ms", "current_ms", "ratio", "verdict", "baseline_run", "current_run",
)


def _run_order(frame: pd.DataFrame) -> list[str]:
    # Runs in time order (pytest-benchmark's "datetime"), ties broken by the order they were given.
    runs = frame.drop_duplicates("run")[["run", "run_datetime"]].reset_index(drop=True)
    runs["pos"] = range(len(runs))
    return runs.sort_values(["run_datetime", "pos"], kind="stable")["run"].tolist()


def latest_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """Per hardware key and cell, the row from the newest run that measured it (others are history)."""
    order = {run: i for i, run in enumerate(_run_order(frame))}
    ranked = frame.assign(_order=frame["run"].map(order)).sort_values("_order", kind="stable")
    latest = ranked.drop_duplicates(["hardware_key", *CELL_KEY], keep="last").drop(columns="_order")
    latest.attrs = dict(frame.attrs)
    return latest.sort_index()


def split_runs(frame: pd.DataFrame, baseline: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Split ``frame`` into (current, baseline).

    Current: the newest run of each hardware key. Baseline: the run labelled ``baseline`` if given,
    else, per hardware key, the run just before the newest one; None when no hardware key has two
    runs. Runs on different hardware are never compared with each other.
    """
    order = _run_order(frame)
    if baseline is not None and baseline not in order:
        raise VBenchError(f"baseline run {baseline!r} is not among the loaded runs ({', '.join(order)})")
    current_parts, baseline_parts = [], []
    for _, group in frame.groupby("hardware_key", sort=True):
        runs = [r for r in order if r in set(group["run"])]
        current_run = next((r for r in reversed(runs) if r != baseline), runs[-1])
        current_parts.append(group[group["run"] == current_run])
        if baseline is not None:
            if baseline in runs and current_run != baseline:
                baseline_parts.append(group[group["run"] == baseline])
        elif len(runs) >= 2:
            baseline_parts.append(group[group["run"] == runs[runs.index(current_run) - 1]])
    current = pd.concat(current_parts)
    current.attrs = dict(frame.attrs)
    if not baseline_parts:
        return current, None
    base = pd.concat(baseline_parts)
    base.attrs = dict(frame.attrs)
    return current, base


def _iqr_bounds(row: pd.Series) -> tuple[float, float] | None:
    q1, q3 = row.get("q1_s"), row.get("q3_s")
    if pd.isna(q1) or pd.isna(q3):
        return None
    return float(q1), float(q3)


def verdict_rows(baseline: pd.DataFrame, current: pd.DataFrame, threshold: float = 0.05) -> pd.DataFrame:
    """Compare the median time per batch of every cell measured in both, per hardware key.

    ``ratio`` = current median / baseline median (above 1 is slower). Verdict: ``within noise``
    when the two runs' interquartile ranges overlap; else ``slower`` / ``faster`` beyond
    ``threshold`` (fractional), else ``unchanged``. Cells in only one run are ``new`` / ``gone``.
    """
    keys = ["hardware_key", *CELL_KEY]
    merged = baseline.merge(current, on=keys, how="outer", suffixes=("_b", "_c"), indicator=True)
    rows = []
    for _, r in merged.iterrows():
        b_ms = r["median_s_b"] * 1e3 if pd.notna(r.get("median_s_b")) else None
        c_ms = r["median_s_c"] * 1e3 if pd.notna(r.get("median_s_c")) else None
        ratio = c_ms / b_ms if b_ms and c_ms else None
        if r["_merge"] == "left_only":
            verdict = "gone"
        elif r["_merge"] == "right_only":
            verdict = "new"
        elif ratio is None:
            verdict = "no timing"
        else:
            bb = _iqr_bounds(pd.Series({"q1_s": r.get("q1_s_b"), "q3_s": r.get("q3_s_b")}))
            cb = _iqr_bounds(pd.Series({"q1_s": r.get("q1_s_c"), "q3_s": r.get("q3_s_c")}))
            overlap = bb is not None and cb is not None and bb[0] <= cb[1] and cb[0] <= bb[1]
            if overlap:
                verdict = "within noise"
            elif ratio > 1 + threshold:
                verdict = "slower"
            elif ratio < 1 - threshold:
                verdict = "faster"
            else:
                verdict = "unchanged"
        rows.append({
            **{k: r[k] for k in keys},
            "baseline_ms": b_ms, "current_ms": c_ms, "ratio": ratio, "verdict": verdict,
            "baseline_run": r.get("run_b"), "current_run": r.get("run_c"),
        })
    out = pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))
    return out.sort_values(keys, kind="stable").reset_index(drop=True)
