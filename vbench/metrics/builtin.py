"""vbench's own metrics, declared in the metric registry (:mod:`vbench.metrics.registry`).

The runner measures them (:class:`vbench.result.CellResult` computes the rates); this table says their
unit and meaning (the schema's), how each is collected, which the gate judges and with what
tolerance category, and which the report shows in its cell table. The order is the gate's row
order and the report's column order.
"""

from __future__ import annotations

from vbench.metrics.registry import GateRule, declare_metric

__all__: list[str] = []

_ROUNDS = "pytest-benchmark's timed rounds (stats.data)"

declare_metric("samples_per_s", "samples/s", "batch size / median round time", _ROUNDS, report_column=True)
declare_metric("latency_median", "ms", "median round time of the session (the gate's time check)", _ROUNDS,
               gate=GateRule("time", source="time", scale=1e3, prior_sigma=0.10), stored=False)
declare_metric("latency_p90", "ms", "90th percentile round time of the session (the gate's tail check)", _ROUNDS,
               gate=GateRule("tail", source="time", stat="p90", scale=1e3, prior_sigma=0.15), stored=False)
declare_metric("norm_time", "x probe", "median of each round's time over the machine probe timed just before it",
               "vbench.timing.timed_rounds with --vb-probe", gate=GateRule("relative", source="norm_time",
                                                                          prior_sigma=0.05))
declare_metric("rel_time", "x eager", "median cell / eager time of interleaved call pairs (--vb-relative)",
               "the gate's re-measure of the cell's Step", gate=GateRule("relative", source="rel_time",
                                                                         prior_sigma=0.05))
declare_metric("latency_ms_p50", "ms/batch", "median time per round (one call on one batch)", _ROUNDS,
               report_column=True)
declare_metric("latency_ms_p90", "ms/batch", "90th percentile of the round times", _ROUNDS)
declare_metric("latency_ms_p99", "ms/batch", "99th percentile of the round times", _ROUNDS, report_column=True)
declare_metric("latency_ms_per_sample", "ms/sample", "p50 / batch size", _ROUNDS)
declare_metric("peak_mem_allocated_mb", "MiB", "CUDA allocator peak allocated during the timed rounds (null on CPU)",
               "vbench.metrics.PeakMemory", gate=GateRule("memory", prior_sigma=0.02))
declare_metric("peak_mem_reserved_mb", "MiB", "CUDA allocator peak reserved during the timed rounds (null on CPU)",
               "vbench.metrics.PeakMemory", gate=GateRule("memory", prior_sigma=0.02))
declare_metric("peak_rss_mb", "MiB", "the process's peak resident memory (see `rss_method`)",
               "vbench.metrics.PeakMemory", gate=GateRule("rss", prior_sigma=0.05))
declare_metric("mem_mb", "MiB (CUDA peak allocated, else the training step's tensor peak, else CPU peak RSS)",
               "the memory that limits batch size on the cell's device", "derived by the report",
               report_column=True, stored=False)
declare_metric("cold_start_s", "s", "build + convert/compile + first call", "the runner's first call",
               gate=GateRule("cold_start", prior_sigma=0.25))
declare_metric("gmacs", "GMAC/sample", "multiply-adds per sample (fvcore on the fp32 eager model, attention "
               "matmuls included)", "vbench.metrics.count_flops", gate=GateRule(None, equal=True, unit="GMAC"),
               report_column=True)
declare_metric("params", "", "parameter count (tied weights once)", "vbench.metrics.count_params",
               gate=GateRule(None, equal=True))
declare_metric("trainable_params", "", "parameters that require grad", "vbench.metrics.count_params")
declare_metric("gflops", "GFLOP/sample (2 x gmacs)", "2 x gmacs", "vbench.metrics.count_flops")
declare_metric("tflops_achieved", "TFLOP/s", "achieved FLOP/s at the median round time", _ROUNDS)
declare_metric("mfu", "fraction of dense peak", "tflops_achieved over the GPU's dense peak for the cell's precision "
               "(null for unknown GPUs and on CPU)", "vbench.metrics.mfu", report_column=True)
declare_metric("build_s", "s", "model construction", "the runner's model cache")
declare_metric("convert_s", "s", "applying the optimization (export, compile, session or engine build)",
               "the runner's model cache")
declare_metric("first_call_s", "s", "the first call, with any lazy compilation", "the runner's first call")
_GUARD = "vbench.correctness.compare_outputs"
declare_metric("top1_agreement", "fraction", "samples whose arg-max class equals fp32 eager's", _GUARD,
               report_column=True)
declare_metric("max_rel_err", "", "max|out - ref| / max|ref| against fp32 eager on the same inputs", _GUARD,
               report_column=True)
declare_metric("mean_rel_err", "", "mean|out - ref| / mean|ref|", _GUARD)
declare_metric("top1_agreement_clear", "fraction", "top-1 agreement over the samples whose reference margin exceeds "
               "2 x tolerance x max|ref| (null when none does)", _GUARD)
declare_metric("top1_clear_samples", "samples", "how many samples that is", _GUARD)
