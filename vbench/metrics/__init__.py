"""Per-cell metrics: memory, FLOPs, parameters, achieved FLOP/s and MFU."""

from vbench.metrics.flops import FlopCount, count_flops
from vbench.metrics.memory import MemorySample, PeakMemory, free_memory
from vbench.metrics.params import count_params
from vbench.metrics.peak import dense_peak_tflops, mfu

__all__ = [
    "FlopCount",
    "count_flops",
    "MemorySample",
    "PeakMemory",
    "free_memory",
    "count_params",
    "dense_peak_tflops",
    "mfu",
]
