"""Plots for training and LoRA cells, and for a baseline-vs-current comparison.

Training cells have mode ``train``; LoRA cells are those with a ``lora_rank`` (optimizations
``lora_rN``, unmerged, and ``lora_rN_merged``) in mode ``train`` or ``inference``. These plots appear as
soon as such rows exist and otherwise return a note.
"""

from __future__ import annotations

import pandas as pd

from vbench.report.plots import Plot, colors_for, new_figure, short_key

__all__ = ["TRAIN_MODES", "lora_variant", "lora_rank_impact", "train_vs_inference", "comparison_ratios", "mode_plots"]

TRAIN_MODES = ("train",)


def lora_variant(row) -> str:
    """"train", "inference unmerged" or "inference merged" for a LoRA row."""
    if row["mode"] == "train":
        return "train"
    merged = str(row.get("optimization", "")).split("+")[0].endswith("_merged")
    return "inference merged" if merged else "inference unmerged"


def lora_rank_impact(frame: pd.DataFrame) -> Plot:
    """Trainable %, step time and memory against LoRA rank: one line per (model, mode), per hardware key."""
    title = "LoRA rank impact: trainable parameters, step time, memory"
    data = frame.dropna(subset=["lora_rank"]) if "lora_rank" in frame else frame.iloc[0:0]
    if data.empty:
        return Plot("lora_rank", title, note="no LoRA cells (optimizations lora_rN) in these runs: plot omitted")
    data = data.assign(mode=data.apply(lora_variant, axis=1))
    # One batch size per (model, mode): the largest, so ranks are compared at equal work.
    data = data[data["batch_size"] == data.groupby(["hardware_key", "model", "mode"])["batch_size"].transform("max")]
    hws = sorted(data["hardware_key"].unique())
    panels = [("trainable_pct", "trainable params (%)"), ("latency_ms_p50", "step time p50 (ms)"),
              ("mem_mb", "peak memory (MiB)")]
    series = sorted({(m, mode) for m, mode in zip(data["model"], data["mode"])})
    colors = colors_for([f"{m} {mode}" for m, mode in series])
    fig, axes = new_figure(3, len(hws), width=4.2, height=3.2)
    for i, hw in enumerate(hws):
        for j, (col, label) in enumerate(panels):
            ax = axes[i][j]
            for model, mode in series:
                g = data[(data["hardware_key"] == hw) & (data["model"] == model) & (data["mode"] == mode)]
                g = g.dropna(subset=[col]).sort_values("lora_rank")
                name = f"{model} {mode}"
                if not g.empty:
                    ax.plot(g["lora_rank"], g[col], marker="o", label=name, color=colors[name])
            ax.set_xscale("log", base=2)
            ax.set_xlabel("LoRA rank", fontsize=8)
            ax.set_ylabel(label, fontsize=8)
            ax.set_title(short_key(hw), fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7)
        axes[i][0].legend(fontsize=6)
    return Plot("lora_rank", title, fig)


def train_vs_inference(frame: pd.DataFrame) -> Plot:
    """Samples/s of each mode side by side per model, at the largest batch size every mode measured."""
    title = "Training vs inference throughput"
    modes_present = set(frame["mode"].dropna())
    if not modes_present & set(TRAIN_MODES):
        return Plot("train_vs_inference", title,
                    note=f"no training cells (modes {', '.join(TRAIN_MODES)}) in these runs: plot omitted")
    data = frame.dropna(subset=["samples_per_s"])
    if "lora_rank" in data:
        # LoRA cells at several ranks: keep the smallest rank per cell so each bar is one number.
        rank = data["lora_rank"].fillna(-1)
        data = data[rank == rank.groupby([data["hardware_key"], data["model"], data["mode"]]).transform("min")]
    hws = sorted(data["hardware_key"].unique())
    fig, axes = new_figure(len(hws), 1, width=7.0, height=3.8)
    notes = []
    for j, hw in enumerate(hws):
        ax = axes[0][j]
        sub = data[data["hardware_key"] == hw]
        bars = {}
        for model, g in sub.groupby("model"):
            opt = "eager" if (g["optimization"] == "eager").any() else g["optimization"].iloc[0]
            g = g[g["optimization"] == opt]
            # The largest batch size measured in every mode of this model, so bars compare equal work.
            common = set.intersection(*(set(x["batch_size"]) for _, x in g.groupby("mode")))
            bs = max(common) if common else g["batch_size"].max()
            g = g[g["batch_size"] == bs]
            bars[f"{model}\n{opt} bs{int(bs)}"] = g.groupby("mode")["samples_per_s"].first()
            notes.append(f"{model}: {opt}, bs {int(bs)}")
        table = pd.DataFrame(bars).T
        table.plot.bar(ax=ax, rot=0, fontsize=7)
        ax.set_ylabel("samples/s")
        ax.set_title(short_key(hw), fontsize=8)
        ax.legend(fontsize=7)
    return Plot("train_vs_inference", title, fig, note="compared at: " + "; ".join(notes))


def comparison_ratios(verdicts: pd.DataFrame | None) -> Plot:
    """Current / baseline median time per cell (the gate's ``latency_median`` rows: the mean of the
    baseline sessions), coloured by the gate's verdict; omitted without a baseline."""
    title = "Baseline vs current (time ratio; above 1 is slower)"
    rows = None if verdicts is None else verdicts[verdicts["metric"] == "latency_median"].dropna(subset=["change"])
    if rows is None or rows.empty:
        return Plot("comparison", title, note="one run per hardware key: no baseline to compare with")
    data = rows.reset_index(drop=True)
    colors = {"regressed": "tab:red", "improved": "tab:green", "inconclusive": "tab:orange",
              "unchanged": "tab:blue", "not gated": "tab:gray"}
    fig, axes = new_figure(1, 1, width=7.5, height=0.22 * len(data) + 1.5)
    ax = axes[0][0]
    several = data["hardware_key"].nunique() > 1
    labels = [(f"{short_key(r.hardware_key)}: " if several else "") + str(r.cell) for r in data.itertuples()]
    # Bars grow from 1 (no change) towards the ratio, left for faster, right for slower.
    ax.barh(range(len(data)), data["change"], left=1, color=[colors.get(v, "tab:purple") for v in data["verdict"]])
    ax.set_yticks(range(len(data)), labels, fontsize=6)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")  # 2x slower and 2x faster sit equally far from 1
    ax.invert_yaxis()
    ax.set_xlabel("current / baseline median time")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color=c, label=v) for v, c in colors.items()], fontsize=7, loc="lower right")
    return Plot("comparison", title, fig, note="verdicts are the gate's for absolute time; on CPU the gate judges "
                "norm_time instead (the verdict table)")


def mode_plots(frame: pd.DataFrame, verdicts: pd.DataFrame | None) -> list[Plot]:
    """The LoRA, training and comparison plots, in report order."""
    return [lora_rank_impact(frame), train_vs_inference(frame), comparison_ratios(verdicts)]
