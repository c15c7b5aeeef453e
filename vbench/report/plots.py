"""The report's plots, one function per plot, each returning a :class:`Plot` (a figure or a note).

Figures are built with matplotlib's object API on an Agg canvas created inside each function: no
pyplot, no global backend switch, nothing at import time, safe in threads and on headless CI.
Runs on different hardware are drawn in separate panels side by side, never pooled. A plot whose
data does not exist (no LoRA cells yet, MFU unknown on CPU) comes back with ``figure=None`` and a
note saying why, so the page shows the note instead of an empty chart.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from vbench.errors import VBenchError

__all__ = [
    "Plot", "new_figure", "figure_png", "colors_for", "short_key", "throughput_vs_batch", "memory_vs_batch",
    "speedup_heatmap", "latency_vs_gmacs", "pareto_front", "mfu_bars", "core_plots",
]


@dataclass
class Plot:
    """One plot of the report: file stem, title, the figure (or None) and a note for the reader."""

    name: str
    title: str
    figure: Any = None  # matplotlib.figure.Figure
    note: str = ""


def new_figure(ncols: int, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    """A figure with an Agg canvas and a grid of axes (always a 2-D array)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise VBenchError("plots need matplotlib: pip install 'vbench[report]'") from None

    fig = Figure(figsize=(width * ncols, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def figure_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _inference(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["mode"] == "inference"]


def short_key(key: str) -> str:
    """A hardware key short enough for a panel title."""
    return key if len(key) <= 40 else key[:37] + "..."


def _panel_grid(n_models: int, n_hw: int) -> tuple[int, int, Callable[[int, int], tuple[int, int]]]:
    """(ncols, nrows, place) for model x hardware panels: hardware keys side by side as columns;
    with a single hardware key the models wrap into up to three columns instead."""
    if n_hw == 1:
        ncols = min(3, n_models)
        return ncols, -(-n_models // ncols), lambda i, j: divmod(i, ncols)
    return n_hw, n_models, lambda i, j: (i, j)


def _lines_per_model(frame: pd.DataFrame, column: str, ylabel: str, name: str, title: str) -> Plot:
    data = _inference(frame).dropna(subset=[column])
    if data.empty:
        return Plot(name, title, note=f"no inference cell has {column}")
    hws = sorted(data["hardware_key"].unique())
    # A panel per (model, image size): cells at different sizes are different workloads.
    models = sorted({(m, int(i)) for m, i in zip(data["model"], data["img_size"])})
    colors = colors_for(sorted(frame["optimization"].unique()))
    ncols, nrows, place = _panel_grid(len(models), len(hws))
    fig, axes = new_figure(ncols, nrows, width=4.4, height=3.0)
    used = set()
    for j, hw in enumerate(hws):
        for i, (model, img) in enumerate(models):
            r, c = place(i, j)
            ax = axes[r][c]
            used.add((r, c))
            cells = data[(data["hardware_key"] == hw) & (data["model"] == model) & (data["img_size"] == img)]
            for opt, g in cells.groupby("optimization"):
                g = g.groupby("batch_size", as_index=False)[column].first().sort_values("batch_size")
                ax.plot(g["batch_size"], g[column], marker="o", label=opt, color=colors[opt])
            sizes = sorted(cells["batch_size"].unique())
            ax.set_xscale("log", base=2)
            ax.set_xticks(sizes, [str(int(v)) for v in sizes])
            ax.set_title(f"{model} {img}px\n{short_key(hw)}", fontsize=8)
            ax.set_xlabel("batch size", fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    for r, row in enumerate(axes):
        for c, ax in enumerate(row):
            if (r, c) not in used:
                ax.set_visible(False)
    seen: dict[str, Any] = {}
    for row in axes:
        for ax in row:
            for h, label in zip(*ax.get_legend_handles_labels()):
                seen.setdefault(label, h)
    fig.legend(list(seen.values()), list(seen.keys()), loc="outside upper center", ncols=min(len(seen), 7),
               fontsize=8)
    return Plot(name, title, fig)


def colors_for(names: list[str]) -> dict[str, Any]:
    """A fixed colour per name (tab10), so an optimization has one colour in every plot."""
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    return {n: cmap(i % 10) for i, n in enumerate(names)}


def throughput_vs_batch(frame: pd.DataFrame) -> Plot:
    """Samples/s against batch size: one panel per model and hardware key, one line per optimization."""
    return _lines_per_model(frame, "samples_per_s", "samples/s", "throughput_vs_batch",
                            "Throughput vs batch size")


def memory_vs_batch(frame: pd.DataFrame) -> Plot:
    """Peak memory (CUDA allocated, else CPU RSS) against batch size."""
    return _lines_per_model(frame, "mem_mb", "peak memory (MiB)", "memory_vs_batch", "Peak memory vs batch size")


def speedup_heatmap(frame: pd.DataFrame) -> Plot:
    """Throughput over eager's at the same batch size: model x optimization, one panel per (hardware, bs)."""
    data = _inference(frame).dropna(subset=["samples_per_s"])
    eager = data[data["optimization"] == "eager"].set_index(["hardware_key", "model", "batch_size", "img_size"])
    if eager.empty:
        return Plot("speedup_heatmap", "Speedup over eager", note="no eager cell to compare against")
    data = data.join(eager["samples_per_s"].rename("eager_sps"), on=["hardware_key", "model", "batch_size", "img_size"])
    data = data.assign(speedup=data["samples_per_s"] / data["eager_sps"]).dropna(subset=["speedup"])
    panels = sorted({(hw, int(img), int(bs)) for hw, img, bs in
                     zip(data["hardware_key"], data["img_size"], data["batch_size"])})
    models = sorted(data["model"].unique())
    opts = sorted(data["optimization"].unique(), key=lambda o: (o != "eager", o))
    ncols = min(len(panels), 4)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols, nrows, width=max(4.0, 0.9 * len(opts) + 2.2), height=0.45 * len(models) + 1.8)
    from matplotlib.colors import LogNorm

    # Log scale symmetric around 1: 2x faster and 2x slower get equally strong colours.
    values = data["speedup"].to_numpy()
    span = float(max(values.max(), 1 / values.min(), 1.1))
    norm = LogNorm(vmin=1 / span, vmax=span)
    image = None
    for k, (hw, img, bs) in enumerate(panels):
        ax = axes[k // ncols][k % ncols]
        sub = data[(data["hardware_key"] == hw) & (data["batch_size"] == bs) & (data["img_size"] == img)]
        grid = sub.pivot_table(index="model", columns="optimization", values="speedup", aggfunc="first")
        grid = grid.reindex(index=models, columns=opts)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdYlGn", norm=norm, aspect="auto")
        ax.set_xticks(range(len(opts)), opts, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(models)), models, fontsize=7)
        ax.set_title(f"bs {bs}, {img}px - {short_key(hw)}", fontsize=8)
        for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
    for k in range(len(panels), ncols * nrows):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="x eager throughput")
    return Plot("speedup_heatmap", "Speedup over eager (throughput ratio, same batch size)", fig,
                note="White = not measured. Correctness is not shown here; see the cells table.")


def pareto_front(points: pd.DataFrame, compute: str = "gmacs", latency: str = "latency_ms_p50") -> pd.Index:
    """Index of the points no other point beats: at least as much ``compute`` for no more ``latency``.

    GMACs stand in for model capacity (what you get), latency for cost (what you pay): the front
    is the most work per latency budget. Ties on latency keep the larger compute.
    """
    ordered = points.sort_values([latency, compute], ascending=[True, False], kind="stable")
    best, keep = -np.inf, []
    for idx, value in ordered[compute].items():
        if value > best:
            keep.append(idx)
            best = value
    return pd.Index(keep)


def latency_vs_gmacs(frame: pd.DataFrame) -> Plot:
    """Batch-1 latency against GMACs per sample; the Pareto front (most GMACs per latency) is marked."""
    data = _inference(frame).dropna(subset=["latency_ms_p50", "gmacs"])
    data = data[data["batch_size"] == 1]
    if data.empty:
        return Plot("latency_vs_gmacs", "Latency vs GMACs", note="no batch-size-1 cell with gmacs and latency")
    hws = sorted(data["hardware_key"].unique())
    colors = colors_for(sorted(frame["optimization"].unique()))
    fig, axes = new_figure(len(hws), 1, width=6.5, height=4.4)
    for j, hw in enumerate(hws):
        ax = axes[0][j]
        sub = data[data["hardware_key"] == hw]
        for opt, g in sub.groupby("optimization"):
            ax.scatter(g["gmacs"], g["latency_ms_p50"], color=colors[opt], label=opt, s=28)
        front = sub.loc[pareto_front(sub)].sort_values("gmacs")
        ax.plot(front["gmacs"], front["latency_ms_p50"], color="black", lw=1, label="Pareto front")
        ax.scatter(front["gmacs"], front["latency_ms_p50"], facecolors="none", edgecolors="black", s=90)
        for _, r in front.iterrows():
            ax.annotate(f"{r['model']}\n{r['optimization']}", (r["gmacs"], r["latency_ms_p50"]), fontsize=6,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("GMACs per sample")
        ax.set_ylabel("latency p50, bs 1 (ms)")
        ax.set_title(short_key(hw), fontsize=8)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    return Plot("latency_vs_gmacs", "Latency (bs 1) vs GMACs, Pareto front marked", fig,
                note="Pareto front: cells that no other cell beats with at least as many GMACs at no more latency.")


def mfu_bars(frame: pd.DataFrame) -> Plot:
    """Model FLOP utilisation per cell at each model's largest batch size, where the peak is known."""
    data = _inference(frame).dropna(subset=["mfu"])
    if data.empty:
        return Plot("mfu", "MFU", note="MFU unknown for every cell: the device is a CPU or a GPU missing from "
                                       "vbench's peak-FLOP table, so it is left blank rather than guessed")
    data = data[data["batch_size"] == data.groupby(["hardware_key", "model"])["batch_size"].transform("max")]
    hws = sorted(data["hardware_key"].unique())
    fig, axes = new_figure(len(hws), 1, width=7.0, height=3.8)
    for j, hw in enumerate(hws):
        ax = axes[0][j]
        sub = data[data["hardware_key"] == hw]
        grid = sub.pivot_table(index="model", columns="optimization", values="mfu", aggfunc="first") * 100
        grid.plot.bar(ax=ax, rot=30, fontsize=7)
        ax.set_ylabel("MFU (% of dense peak)")
        ax.set_title(f"largest batch - {short_key(hw)}", fontsize=8)
        ax.legend(fontsize=7)
    return Plot("mfu", "Model FLOP utilisation (largest batch size)", fig)


def core_plots(frame: pd.DataFrame) -> list[Plot]:
    """The inference plots, in report order."""
    makers: list[Callable[[pd.DataFrame], Plot]] = [
        throughput_vs_batch, speedup_heatmap, memory_vs_batch, latency_vs_gmacs, mfu_bars,
    ]
    return [make(frame) for make in makers]
