"""Per-cell metrics: the metric registry, memory, FLOPs, parameters, achieved FLOP/s and MFU.

The registry (:mod:`vbench.metrics.registry`) is torch-free; the measuring modules load torch, so
they are imported on first use: the report and the gate read the registry without torch.
"""

from importlib import import_module

from vbench.metrics.registry import GateRule, MetricInput, MetricSpec, list_metrics, register_metric

__all__ = [
    "GateRule",
    "MetricInput",
    "MetricSpec",
    "list_metrics",
    "register_metric",
    "FlopCount",
    "count_flops",
    "MemorySample",
    "PeakMemory",
    "free_memory",
    "count_params",
    "dense_peak_tflops",
    "mfu",
]

_LAZY = {
    "FlopCount": "vbench.metrics.flops",
    "count_flops": "vbench.metrics.flops",
    "MemorySample": "vbench.metrics.memory",
    "PeakMemory": "vbench.metrics.memory",
    "free_memory": "vbench.metrics.memory",
    "count_params": "vbench.metrics.params",
    "dense_peak_tflops": "vbench.metrics.peak",
    "mfu": "vbench.metrics.peak",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'vbench.metrics' has no attribute {name!r}")
