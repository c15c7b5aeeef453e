"""Profiler traces per cell: ``--vb-trace DIR`` and ``--vb-trace-top N``.

After a cell's timed rounds (never during them) its step runs a few more times under
``torch.profiler``; the Chrome trace goes to ``DIR/<cell id>.pt.trace.json`` (open it in
chrome://tracing or Perfetto; TensorBoard's profiler plugin reads ``*.pt.trace.json`` files in a
folder), and the top operators by self time become a table printed in the terminal summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["TraceResult", "trace_file_name", "trace_step"]

TRACE_CALLS = 3


@dataclass(frozen=True)
class TraceResult:
    path: Path | None  # None when only the top-operator table was asked for
    top_ops: str  # rendered table, empty when not asked for


def trace_file_name(cell_id: str) -> str:
    """The trace file name of a cell: its id with anything unsafe in a file name replaced by ``_``."""
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", cell_id) + ".pt.trace.json"


def trace_step(
    step: Callable[[], object],
    cell_id: str,
    device: torch.device,
    *,
    out_dir: Path | None,
    top: int = 0,
    calls: int = TRACE_CALLS,
) -> TraceResult:
    """Profile ``calls`` calls of ``step``; write the Chrome trace into ``out_dir`` (if given) and
    render the ``top`` operators by self time (if ``top`` > 0)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities, record_shapes=False) as prof:
        for _ in range(calls):
            with torch.profiler.record_function(f"vbench:{cell_id}"):
                step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
    path = None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / trace_file_name(cell_id)
        prof.export_chrome_trace(str(path))
    table = ""
    if top > 0:
        sort_by = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
        table = prof.key_averages().table(sort_by=sort_by, row_limit=top)
    return TraceResult(path, table)
