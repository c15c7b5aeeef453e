"""The metric registry: every measured number declared once (name, unit, meaning, how it is collected,
how the gate judges it, whether the report shows it as a column).

The schema's units (:mod:`vbench.schema`), the gate's table of judged metrics
(:func:`vbench.compare.verdicts.gate_metrics`) and the report's per-cell columns
(:func:`vbench.report.tables.cell_columns`) all read this table. vbench's own metrics are declared in
:mod:`vbench.metrics.builtin` (measured by the runner); a user's metric is a function computed per cell,
registered from a conftest.py like a model::

    from vbench.metrics import register_metric

    @register_metric("logit_norm", unit="", gate="rss", report_column=True)
    def logit_norm(cell):
        \"\"\"Mean L2 norm of the logits.\"\"\"
        return float(cell.output.float().norm(dim=-1).mean())

Torch-free: the report and the gate read it without importing torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vbench.errors import VBenchError
from vbench.registry import Registry

__all__ = ["GateRule", "MetricSpec", "MetricInput", "METRICS", "register_metric", "declare_metric",
           "list_metrics", "stored_units", "collected_metrics"]


@dataclass(frozen=True)
class GateRule:
    """How the regression gate judges a metric: its tolerance ``category`` (one of
    :data:`vbench.compare.policy.CATEGORIES`; None: compared for equality only), where a session's value
    comes from (``source``: raw samples of ``time``, ``norm_time`` or ``rel_time`` summarised by
    ``stat``; None: the single number in ``extra_info``), its display ``unit`` and ``scale`` when they
    differ from the stored ones, the spread assumed while fewer than two baseline sessions exist
    (``prior_sigma``), and ``equal`` for numbers that only change when the model does."""

    category: str | None
    source: str | None = None
    stat: str = "median"
    scale: float = 1.0
    prior_sigma: float = 0.10
    equal: bool = False
    unit: str | None = None


@dataclass(frozen=True)
class MetricInput:
    """What a registered metric function is given for one measured cell: the cell, the module as it ran,
    the output checked against fp32 eager, and the cell's fields measured so far (``fields``, a dict)."""

    cell: Any
    module: Any
    output: Any
    fields: dict[str, Any]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: ``name`` (its ``extra_info`` key when ``stored``), ``unit``, ``meaning``, ``collected``
    (how, in words), ``collect`` (a function of a :class:`MetricInput` for metrics computed per cell;
    None for those the runner measures itself), ``gate`` (None: not judged) and ``report_column`` (shown
    in the report's per-cell table)."""

    name: str
    unit: str
    meaning: str
    collected: str
    collect: Callable[[MetricInput], Any] | None = None
    gate: GateRule | None = None
    report_column: bool = False
    stored: bool = True


METRICS: Registry[MetricSpec] = Registry("metric")


def _gate_rule(gate: GateRule | str | None) -> GateRule | None:
    if gate is None or isinstance(gate, GateRule):
        rule = gate
    else:
        rule = GateRule(gate)
    if rule is not None and rule.category is not None:
        from vbench.compare.policy import CATEGORIES

        if rule.category not in CATEGORIES:
            raise VBenchError(f"gate category {rule.category!r} is not one of {', '.join(CATEGORIES)}")
    return rule


def declare_metric(name: str, unit: str, meaning: str, collected: str, *, gate: GateRule | str | None = None,
                   report_column: bool = False, stored: bool = True, overwrite: bool = False) -> MetricSpec:
    """Declare a metric vbench measures itself (no function to call); returns its spec."""
    spec = MetricSpec(name, unit, meaning, collected, None, _gate_rule(gate), report_column, stored)
    return METRICS.add(name, spec, overwrite=overwrite)


def register_metric(name: str, unit: str = "", meaning: str = "", *, gate: GateRule | str | None = None,
                    report_column: bool = False, overwrite: bool = False):
    """Decorator: ``fn(metric_input) -> float | None`` becomes metric ``name``, computed for every cell
    after its rounds and stored in its ``extra_info``. ``gate`` is a tolerance category (or a
    :class:`GateRule`) to judge it in the gate; ``report_column`` adds it to the report's cell table.
    ``meaning`` defaults to the first line of the function's docstring."""

    _builtins()  # vbench's own metrics first: the gate's and the report's tables keep their order

    def decorate(fn: Callable[[MetricInput], Any]) -> Callable[[MetricInput], Any]:
        doc = (fn.__doc__ or "").strip().splitlines()
        spec = MetricSpec(name, unit, meaning or (doc[0] if doc else ""), f"{fn.__module__}.{fn.__qualname__}",
                          fn, _gate_rule(gate), report_column, True)
        METRICS.add(name, spec, overwrite=overwrite)
        return fn

    return decorate


def list_metrics() -> list[MetricSpec]:
    """Every registered metric, in registration order (vbench's own first)."""
    _builtins()
    return METRICS.entries()


def stored_units() -> dict[str, str]:
    """``extra_info`` key -> unit of every stored metric."""
    return {m.name: m.unit for m in list_metrics() if m.stored}


def collected_metrics() -> list[MetricSpec]:
    """The metrics computed per cell by a registered function."""
    return [m for m in list_metrics() if m.collect is not None]


def _builtins() -> None:
    import vbench.metrics.builtin  # noqa: F401 - declares vbench's own metrics on first import
