"""Recommendations computed from the measurements, each stated with the numbers it rests on.

Correctness is not judged here: a cell is *correct* when the correctness guard that measured it wrote
``correctness: ok`` (:mod:`vbench.correctness`, with the tolerances that run used), *incorrect* when
it wrote a failure, and *unknown* when it wrote nothing (a run from before the guard) or was told not
to check (``--vb-tolerance off``). Only correct cells can be recommended. Two cells of one run are
*within noise* when the interquartile ranges of their per-round times overlap: the faster median then
is not a result, and the recommendation says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Recommendation", "correctness_of", "add_correctness", "within_noise", "recommend"]


@dataclass(frozen=True)
class Recommendation:
    """One finding: what kind, where (hardware, model), the pick and the sentence with its numbers."""

    kind: str  # latency | throughput | per_gb | noise | excluded | note
    hardware_key: str
    model: str
    choice: str
    text: str


def correctness_of(verdict) -> tuple[bool | None, str]:
    """The guard's ``correctness`` field as (correct, why): True for ``ok``, False for a failure
    message, None (unknown) when the field is missing or the guard did not check."""
    if verdict is None or (isinstance(verdict, float) and np.isnan(verdict)) or verdict == "":
        return None, "not recorded (a run from before the correctness guard)"
    text = str(verdict)
    if text == "ok":
        return True, "ok"
    if text.startswith("not checked"):
        return None, text
    return False, text


def add_correctness(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``correct`` (True, False, or None when unknown) and ``correct_why`` from each row's
    ``correctness`` field (see :func:`correctness_of`)."""
    column = frame["correctness"] if "correctness" in frame else pd.Series(None, index=frame.index, dtype=object)
    judged = [correctness_of(v) for v in column]
    out = frame.copy()
    out["correct"] = pd.Series([c for c, _ in judged], index=frame.index, dtype=object)
    out["correct_why"] = [why for _, why in judged]
    return out


def _iqr_ms(row: pd.Series) -> tuple[float, float] | None:
    """Per-batch latency interquartile range in ms: from the raw samples if stored, else the stats."""
    samples = row.get("samples_s")
    if isinstance(samples, list) and len(samples) >= 4:
        q1, q3 = np.percentile(np.asarray(samples, dtype=float), [25, 75])
        return q1 * 1e3, q3 * 1e3
    if pd.notna(row.get("q1_s")) and pd.notna(row.get("q3_s")):
        return row["q1_s"] * 1e3, row["q3_s"] * 1e3
    return None


def within_noise(a: pd.Series, b: pd.Series) -> bool | None:
    """True when the IQRs of two cells' per-round times overlap; None when either has no spread data."""
    ia, ib = _iqr_ms(a), _iqr_ms(b)
    if ia is None or ib is None:
        return None
    return bool(ia[0] <= ib[1] and ib[0] <= ia[1])


def _iqr_text(row: pd.Series) -> str:
    iqr = _iqr_ms(row)
    return f"IQR {iqr[0]:.3g}-{iqr[1]:.3g} ms" if iqr else "no IQR"


def _pick(cells: pd.DataFrame, column: str, kind: str, label: str, unit: str, fmt: str, hw: str, model: str,
          higher_is_better: bool) -> list[Recommendation]:
    ranked = cells.dropna(subset=[column]).sort_values(column, ascending=not higher_is_better, kind="stable")
    if ranked.empty:
        return []
    best = ranked.iloc[0]
    bs = int(best["batch_size"])
    text = f"{model} {label} (bs {bs}): **{best['optimization']}** at {format(best[column], fmt)} {unit}"
    eager = ranked[ranked["optimization"] == "eager"]
    if best["optimization"] != "eager" and not eager.empty:
        e = eager.iloc[0]
        speedup = best[column] / e[column] if higher_is_better else e[column] / best[column]
        text += f", {speedup:.2f}x eager ({format(e[column], fmt)} {unit})"
    if len(ranked) > 1:
        second = ranked.iloc[1]
        noise = within_noise(best, second)
        text += f"; runner-up {second['optimization']} at {format(second[column], fmt)} {unit}"
        if noise:
            text += f", within noise ({_iqr_text(best)} vs {_iqr_text(second)} overlap)"
        elif noise is False:
            text += f", a real difference ({_iqr_text(best)} vs {_iqr_text(second)} do not overlap)"
    return [Recommendation(kind, hw, model, str(best["optimization"]), text)]


def recommend(current: pd.DataFrame) -> list[Recommendation]:
    """Recommendations per hardware key and model from inference cells of the current run(s).

    Latency: lowest p50 at batch size 1. Throughput: highest samples/s at the model's largest batch
    size. Memory: highest samples/s per GiB. Noise: every optimization whose IQR overlaps eager's at
    the same batch size. Cells the guard failed are listed, never picked; cells whose correctness is
    unknown are counted in a note, never picked.
    """
    frame = current if "correct" in current else add_correctness(current)
    frame = frame[frame["mode"] == "inference"]
    recs: list[Recommendation] = []
    sizes = frame.groupby("model")["img_size"].nunique()
    for (hw, name, img), cells in frame.groupby(["hardware_key", "model", "img_size"], sort=True):
        # Name the image size only where a model was run at several.
        model = f"{name} @{int(img)}px" if sizes[name] > 1 else name
        for _, bad in cells[cells["correct"].apply(lambda v: v is False)].drop_duplicates("optimization").iterrows():
            recs.append(Recommendation("excluded", hw, model, str(bad["optimization"]),
                                       f"{model} {bad['optimization']} ({bad['precision']}) excluded: the correctness "
                                       f"guard failed it: {bad['correct_why']}"))
        unknown = cells[cells["correct"].apply(lambda v: v is None)]
        if not unknown.empty:
            reasons = "; ".join(dict.fromkeys(unknown["correct_why"]))
            recs.append(Recommendation("note", hw, model, "", f"{model}: correctness unknown for {len(unknown)} "
                                       f"cell(s) ({reasons}), so they are not recommended"))
        ok = cells[cells["correct"].apply(lambda v: v is True)]
        if not (cells["batch_size"] == 1).any():
            recs.append(Recommendation("note", hw, model, "", f"{model}: no batch-size-1 cell, so no latency "
                                       "pick (run with --vb-batch-sizes 1,...)"))
        recs += _pick(ok[ok["batch_size"] == 1], "latency_ms_p50", "latency", "latency", "ms", ".3g", hw, model, False)
        largest = ok[ok["batch_size"] == ok["batch_size"].max()] if not ok.empty else ok
        recs += _pick(largest, "samples_per_s", "throughput", "throughput", "samples/s", ".4g", hw, model, True)
        recs += _pick(largest, "samples_per_s_per_gb", "per_gb", "throughput per GiB", "samples/s/GiB", ".4g",
                      hw, model, True)
        for bs, group in cells.groupby("batch_size"):
            eager = group[group["optimization"] == "eager"]
            if eager.empty:
                continue
            e = eager.iloc[0]
            same = [
                f"{r['optimization']} ({r['latency_ms_p50']:.3g} ms, {_iqr_text(r)})"
                for _, r in group.iterrows()
                if r["optimization"] != "eager" and within_noise(e, r)
            ]
            if same:
                recs.append(Recommendation(
                    "noise", hw, model, ",".join(same),
                    f"{model} bs {int(bs)}: within noise of eager ({e['latency_ms_p50']:.3g} ms, {_iqr_text(e)}): "
                    + "; ".join(same),
                ))
    return recs
