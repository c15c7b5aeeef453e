"""Peak memory of one measured region: CUDA allocator peaks and the process's peak RSS.

On Linux the kernel's RSS high-water mark (VmHWM) can be reset by writing "5" to
/proc/self/clear_refs, which gives a true per-cell CPU peak; where that is not allowed the
process-lifetime peak is reported and ``rss_method`` says so.
"""

from __future__ import annotations

import gc
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["MemorySample", "PeakMemory", "free_memory", "current_rss_mb"]

_MB = 1024 * 1024
_PROC = Path("/proc/self")


@dataclass
class MemorySample:
    """Peaks seen inside a :class:`PeakMemory` block (MB; CUDA fields None off CUDA)."""

    peak_mem_allocated_mb: float | None = None
    peak_mem_reserved_mb: float | None = None
    peak_rss_mb: float | None = None
    rss_method: str = ""


def _reset_rss_peak() -> bool:
    try:
        (_PROC / "clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    try:
        for line in (_PROC / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / _MB if sys.platform == "darwin" else peak / 1024


def current_rss_mb() -> float | None:
    """The process's resident set size now (MB), or None where /proc is missing."""
    try:
        for line in (_PROC / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class PeakMemory:
    """Context manager measuring peak memory inside its block on ``device``.

    ``sample`` holds the result after the block exits.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.sample = MemorySample()
        self._rss_reset = False

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self._rss_reset = _reset_rss_peak()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.sample.peak_mem_allocated_mb = torch.cuda.max_memory_allocated(self.device) / _MB
            self.sample.peak_mem_reserved_mb = torch.cuda.max_memory_reserved(self.device) / _MB
        self.sample.peak_rss_mb = _rss_peak_mb()
        self.sample.rss_method = "VmHWM reset per cell" if self._rss_reset else "process lifetime peak"


def free_memory(device: torch.device) -> None:
    """Return cached memory after a model is dropped, so the next model starts clean."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
