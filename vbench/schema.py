"""The per-cell result schema stored in pytest-benchmark's ``extra_info``.

Units are in the names. Readers (reports, the gate) use :data:`FIELDS` and treat a missing field
of an older schema version as blank, never as zero.
"""

from __future__ import annotations

__all__ = ["SCHEMA_VERSION", "FIELDS", "UNITS"]

SCHEMA_VERSION = 1

# field -> unit (or "" when dimensionless); every inference cell carries all of them, None where
# a value does not apply (CUDA memory on CPU) or is unknown (MFU of a GPU not in the peak table).
UNITS: dict[str, str] = {
    "schema_version": "",
    "model": "",
    "family": "",
    "optimization": "",
    "mode": "",
    "batch_size": "samples",
    "img_size": "px",
    "device": "",
    "precision": "",
    "samples_per_s": "samples/s",
    "latency_ms_p50": "ms/batch",
    "latency_ms_p90": "ms/batch",
    "latency_ms_p99": "ms/batch",
    "latency_ms_per_sample": "ms/sample",
    "rounds": "",
    "peak_mem_allocated_mb": "MiB",
    "peak_mem_reserved_mb": "MiB",
    "peak_rss_mb": "MiB",
    "params": "",
    "trainable_params": "",
    "gmacs": "GMAC/sample",
    "gflops": "GFLOP/sample (2 x gmacs)",
    "tflops_achieved": "TFLOP/s",
    "mfu": "fraction of dense peak",
    "cold_start_s": "s",
    "build_s": "s",
    "convert_s": "s",
    "first_call_s": "s",
    "top1_agreement": "fraction",
    "max_rel_err": "",
    "mean_rel_err": "",
    # Correctness guard, fallbacks and traces (README, "Deployment backends").
    "top1_agreement_clear": "fraction",
    "top1_clear_samples": "samples",
    "tolerance_max_rel_err": "",
    "correctness": "",
    "graph_breaks": "",
    "recompiles": "",
    "export_fallback": "",
    "provider_fallback": "",
    "pytorch_subgraphs": "",
    "api_fallback": "",
    "fallback": "",
    "trace_file": "",
}

FIELDS: tuple[str, ...] = tuple(UNITS)
