"""Silent fallbacks made visible: graph breaks, recompiles, exporter and provider fallbacks.

A fast cell that quietly ran something other than what its name says must show it. Two sources:

* :class:`DynamoWatch` counts what torch.compile's dynamo did while a cell ran (graph breaks from
  ``torch._dynamo.utils.counters["graph_break"]``; recompiles from dynamo's compilation metrics,
  whose ``recompile_reason`` is set for every frame compiled again after a guard failed).
* Optimizations call :func:`note_fallback` on their :class:`~vbench.optimizations.plan.Executable` when they
  fall back (the ONNX exporter to the legacy TorchScript one, ONNX Runtime to the CPU provider,
  TensorRT leaving subgraphs to PyTorch, int8 to a deprecated API).

:func:`fallback_fields` turns both into the same flat fields for every cell.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FALLBACK_FIELDS",
    "DynamoWatch",
    "DynamoDelta",
    "note_fallback",
    "fallback_fields",
    "summary_line",
    "cell_record",
    "summary_sections",
]

# extra_info field -> meaning; every cell carries every one (0 / None where nothing fell back).
FALLBACK_FIELDS: dict[str, str] = {
    "graph_breaks": "torch.compile graph breaks while the cell ran (dynamo counters)",
    "recompiles": "dynamo recompilations while the cell ran (guard failures, e.g. a new batch size)",
    "export_fallback": "exporter actually used when the preferred one failed, with the failure's first line",
    "provider_fallback": "execution provider actually used when the requested one was unavailable",
    "pytorch_subgraphs": "subgraphs a compiler left to run in PyTorch (TensorRT partitions)",
    "api_fallback": "deprecated or secondary API used because the maintained one is not installed",
    "fallback": "true when the cell did not run wholly as its name says: a graph break or any noted fallback "
                "(recompiles alone are counted, not a fallback: static shapes recompile per batch size)",
}

_NOTE_FIELDS = ("export_fallback", "provider_fallback", "pytorch_subgraphs", "api_fallback")


def note_fallback(exe, name: str, value: Any) -> None:
    """Record on ``exe`` (an Executable) that an optimization fell back; ``name`` is a fallback field."""
    if name not in _NOTE_FIELDS:
        raise ValueError(f"unknown fallback field {name!r}; one of {', '.join(_NOTE_FIELDS)}")
    exe.notes.setdefault("fallbacks", {})[name] = value


@dataclass
class DynamoDelta:
    """What dynamo did between :meth:`DynamoWatch.start` and :meth:`DynamoWatch.delta`."""

    graph_breaks: int = 0
    recompiles: int = 0
    graph_break_reasons: list[str] = field(default_factory=list)
    recompile_reasons: list[str] = field(default_factory=list)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text and text.strip() else ""


def compile_cache_counts() -> tuple[int, int]:
    """Inductor's FX graph cache ``(hits, misses)`` so far in this process ((0, 0) before anything compiled)."""
    import sys

    utils = sys.modules.get("torch._dynamo.utils")
    inductor = utils.counters.get("inductor", {}) if utils is not None else {}
    return int(inductor.get("fxgraph_cache_hit", 0)), int(inductor.get("fxgraph_cache_miss", 0))


def compile_cache_state(before: tuple[int, int], after: tuple[int, int]) -> str | None:
    """``warm`` when the compiled graphs of a cell came from inductor's cache (hits, no misses),
    ``cold`` when any was compiled anew, ``mixed`` for both, None when nothing was compiled.
    A compiled cell's cold start is only comparable between runs with the same state."""
    hits, misses = after[0] - before[0], after[1] - before[1]
    if not hits and not misses:
        return None
    return "mixed" if hits and misses else ("warm" if hits else "cold")


class DynamoWatch:
    """A snapshot of dynamo's counters (:meth:`start`); :meth:`delta` reports what changed since.

    Reads dynamo's state only if torch._dynamo was already imported (it is whenever something was
    compiled), so eager cells pay nothing.
    """

    def __init__(self) -> None:
        self._start_us = time.time_ns() // 1000
        self._breaks = dict(self._counters().get("graph_break", {}))

    @classmethod
    def start(cls) -> DynamoWatch:
        """Snapshot now."""
        return cls()

    @staticmethod
    def _counters() -> dict:
        import sys

        utils = sys.modules.get("torch._dynamo.utils")
        return utils.counters if utils is not None else {}

    def delta(self) -> DynamoDelta:
        import sys

        now = dict(self._counters().get("graph_break", {}))
        new_breaks = {k: v - self._breaks.get(k, 0) for k, v in now.items() if v > self._breaks.get(k, 0)}
        recompile_reasons: list[str] = []
        utils = sys.modules.get("torch._dynamo.utils")
        if utils is not None and hasattr(utils, "get_compilation_metrics"):
            for metric in utils.get_compilation_metrics():
                started = getattr(metric, "start_time_us", None) or 0
                if started >= self._start_us and getattr(metric, "recompile_reason", None):
                    recompile_reasons.append(_first_line(metric.recompile_reason))
        return DynamoDelta(
            graph_breaks=sum(new_breaks.values()),
            recompiles=len(recompile_reasons),
            graph_break_reasons=sorted({_first_line(k) for k in new_breaks}),
            recompile_reasons=sorted(set(recompile_reasons)),
        )


def fallback_fields(notes: dict[str, Any], dynamo: DynamoDelta) -> dict[str, Any]:
    """The flat fallback fields of one cell from an Executable's ``notes`` and a dynamo delta."""
    noted = notes.get("fallbacks", {})
    out: dict[str, Any] = {
        "graph_breaks": dynamo.graph_breaks,
        "recompiles": dynamo.recompiles,
        **{name: noted.get(name) for name in _NOTE_FIELDS},
    }
    out["fallback"] = bool(out["graph_breaks"] or any(out[n] for n in _NOTE_FIELDS))
    out["fallback_details"] = {
        k: v for k, v in (("graph_break_reasons", dynamo.graph_break_reasons),
                          ("recompile_reasons", dynamo.recompile_reasons)) if v
    }
    return out


def summary_line(result: dict[str, Any]) -> str | None:
    """One terminal-summary line for a cell whose result shows a fallback or a recompile, else None."""
    parts = []
    if result.get("graph_breaks"):
        reasons = result.get("fallback_details", {}).get("graph_break_reasons", [])
        parts.append(f"{result['graph_breaks']} graph break(s)" + (f" ({reasons[0]})" if reasons else ""))
    if result.get("recompiles"):
        parts.append(f"{result['recompiles']} recompile(s)")
    for name in _NOTE_FIELDS:
        if result.get(name):
            parts.append(f"{name.replace('_', ' ')}: {result[name]}")
    return "; ".join(parts) or None


def cell_record(cell_id: str, result: dict[str, Any], failure: str | None = None) -> dict[str, Any] | None:
    """What the terminal summary needs of one cell (plain data: it travels from xdist workers in a
    report's ``user_properties``), or None when there is nothing to show."""
    record = {
        "id": cell_id,
        "fallback": summary_line(result),
        "correctness": failure,
        "trace_file": result.get("trace_file"),
        "trace_top_ops": result.get("trace_top_ops"),
    }
    return record if any(v for k, v in record.items() if k != "id") else None


def summary_sections(records: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """The terminal summary's (title, lines) sections from :func:`cell_record` records."""
    sections = []
    failed = [f"{r['id']}: {r['correctness']}" for r in records if r.get("correctness")]
    if failed:
        sections.append(("vbench correctness guard failures", failed))
    fell_back = [f"{r['id']}: {r['fallback']}" for r in records if r.get("fallback")]
    if fell_back:
        sections.append(("vbench fallbacks and recompiles", fell_back))
    traced = []
    for r in records:
        if r.get("trace_file"):
            traced.append(f"{r['id']}: {r['trace_file']}")
        if r.get("trace_top_ops"):
            traced.extend([f"{r['id']}: top operators by self time", *r["trace_top_ops"].rstrip().splitlines()])
    if traced:
        sections.append(("vbench traces", traced))
    return sections
