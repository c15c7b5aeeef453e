"""Recommendations computed from the measurements, each stated with the numbers it rests on.

A cell counts as *correct* when its outputs agree with the fp32 eager model within the tolerance of
its precision (:data:`TOLERANCES`): reduced precision is expected to move logits a little, not to
change predictions wholesale. Only correct cells can be recommended. Two cells are *within noise*
when the interquartile ranges of their per-round times overlap: the faster median then is not a
result, and the recommendation says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Tolerance", "TOLERANCES", "Recommendation", "add_correctness", "within_noise", "recommend"]


@dataclass(frozen=True)
class Tolerance:
    """Agreement with fp32 eager required of a cell of one precision."""

    min_top1: float  # fraction of samples whose arg-max class matches the reference
    max_rel_err: float  # max |out - ref| / max |ref| over the batch


# Why these numbers: fp32 rewrites (channels_last, TorchScript, compile) only reorder float sums,
# so they stay within ~1e-5 of eager; 1e-3 leaves room for fused kernels. TF32 has a 10-bit mantissa
# (~1e-3 per op). bf16 has 8 bits (~4e-3 per op, growing through depth), fp16 has 11. Random-init
# models give nearly flat logits, where tiny errors flip the arg-max of a few samples, so top-1
# agreement is demanded at 0.75 for the 16-bit formats, not at 1.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(min_top1=1.0, max_rel_err=1e-3),
    "tf32": Tolerance(min_top1=0.9, max_rel_err=2e-2),
    "fp16": Tolerance(min_top1=0.75, max_rel_err=5e-2),
    "bf16": Tolerance(min_top1=0.75, max_rel_err=1e-1),
    "int8": Tolerance(min_top1=0.5, max_rel_err=2e-1),
}


@dataclass(frozen=True)
class Recommendation:
    """One finding: what kind, where (hardware, model), the pick and the sentence with its numbers."""

    kind: str  # latency | throughput | per_gb | noise | excluded | note
    hardware_key: str
    model: str
    choice: str
    text: str


def add_correctness(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``correct`` (True/False, or None when the run has no agreement metrics) and ``correct_why``."""
    correct, why = [], []
    for _, row in frame.iterrows():
        if row["optimization"] == "eager":
            correct.append(True)  # the reference itself
            why.append("reference")
            continue
        tol = TOLERANCES.get(str(row.get("precision")) if pd.notna(row.get("precision")) else "fp32")
        top1, err = row.get("top1_agreement"), row.get("max_rel_err")
        if tol is None or pd.isna(top1) or pd.isna(err):
            correct.append(None)
            why.append("no agreement metrics in this run")
            continue
        ok = top1 >= tol.min_top1 and err <= tol.max_rel_err
        correct.append(bool(ok))
        why.append(
            f"top1 {top1:.3f} (>= {tol.min_top1}), max_rel_err {err:.2g} (<= {tol.max_rel_err:g})"
            if ok else
            f"top1 {top1:.3f} (need >= {tol.min_top1}), max_rel_err {err:.2g} (need <= {tol.max_rel_err:g})"
        )
    out = frame.copy()
    out["correct"] = pd.Series(correct, index=frame.index, dtype=object)
    out["correct_why"] = why
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
    the same batch size. Cells that failed the correctness tolerance are listed, never picked.
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
                                       f"{model} {bad['optimization']} ({bad['precision']}) excluded as incorrect: "
                                       f"{bad['correct_why']}"))
        ok = cells[cells["correct"].apply(lambda v: v is True)]
        if not (ok["batch_size"] == 1).any():
            recs.append(Recommendation("note", hw, model, "", f"{model}: no correct batch-size-1 cell, so no "
                                       "latency pick (run with --vb-batch-sizes 1,...)"))
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
