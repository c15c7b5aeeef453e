"""The per-cell result schema stored in pytest-benchmark's ``extra_info``: every key, its unit and meaning.

Units are in the names. The measured metrics' units and meanings come from the metric registry
(:mod:`vbench.metrics.registry`, one table for the schema, the gate and the report). Readers (reports, the gate) use :data:`FIELDS` and treat a missing field
of an older schema version as blank, never as zero. :data:`GROUPS` documents the keys only some
cells carry (training, data, telemetry, ...); ``docs/schema.md`` is generated from this module
(``python -m vbench.tools.docs_gen``).
"""

from __future__ import annotations

from dataclasses import dataclass

from vbench.metrics.registry import METRICS, list_metrics

__all__ = ["SCHEMA_VERSION", "Field", "CORE", "GROUPS", "FIELDS", "UNITS", "DOCUMENTED"]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Field:
    """One ``extra_info`` key: its unit ("" when dimensionless or text) and what it means."""

    name: str
    unit: str
    meaning: str


def _metric(name: str) -> Field:
    """The field of a registered metric: its unit and meaning as the registry declares them."""
    list_metrics()
    spec = METRICS.get(name)
    return Field(name, spec.unit, spec.meaning)


# Every inference cell carries all of them, None where a value does not apply (CUDA memory on CPU)
# or is unknown (MFU of a GPU not in the peak table).
CORE: tuple[Field, ...] = (
    Field("schema_version", "", "version of this schema"),
    Field("model", "", "model name (timm or registered)"),
    Field("family", "", "model family (vit, deit, swin, resnet, densenet, ...): picks LoRA targets"),
    Field("optimization", "", "optimization name; `+` joins combined ones"),
    Field("mode", "", "inference, train, data or ddp"),
    Field("batch_size", "samples", "samples per call"),
    Field("img_size", "px", "square input size"),
    Field("device", "", "cpu or cuda:N"),
    Field("precision", "", "fp32, tf32, bf16, fp16 or int8: the least exact part of the optimization"),
    _metric("samples_per_s"),
    _metric("latency_ms_p50"),
    _metric("latency_ms_p90"),
    _metric("latency_ms_p99"),
    _metric("latency_ms_per_sample"),
    Field("rounds", "", "timed rounds (the raw per-round seconds are in `stats.data`)"),
    _metric("peak_mem_allocated_mb"),
    _metric("peak_mem_reserved_mb"),
    _metric("peak_rss_mb"),
    _metric("params"),
    _metric("trainable_params"),
    _metric("gmacs"),
    _metric("gflops"),
    _metric("tflops_achieved"),
    _metric("mfu"),
    _metric("cold_start_s"),
    _metric("build_s"),
    _metric("convert_s"),
    _metric("first_call_s"),
    _metric("top1_agreement"),
    _metric("max_rel_err"),
    _metric("mean_rel_err"),
    _metric("top1_agreement_clear"),
    _metric("top1_clear_samples"),
    Field("tolerance_max_rel_err", "", "the guard's max_rel_err tolerance for this precision in this run"),
    Field("correctness", "", "the correctness guard's verdict: `ok`, its failure message, or `not checked` "
          "(--vb-tolerance off); the one correctness truth, which the report reads"),
    Field("graph_breaks", "", "torch.compile graph breaks while the cell ran"),
    Field("recompiles", "", "dynamo recompilations while the cell ran"),
    Field("export_fallback", "", "the exporter used when the preferred one failed, with its first error line"),
    Field("provider_fallback", "", "the ONNX Runtime provider used when the CUDA provider was unavailable"),
    Field("pytorch_subgraphs", "", "TensorRT: subgraphs left to PyTorch; null for other optimizations"),
    Field("api_fallback", "", "a secondary API used because the maintained one is missing"),
    Field("fallback", "", "true when any graph break, export/provider/api fallback or PyTorch subgraph was seen"),
    Field("trace_file", "", "the torch.profiler Chrome trace of the cell (--vb-trace)"),
)

# Keys some cells carry, by what writes them.
GROUPS: dict[str, tuple[Field, ...]] = {
    "How the cell was run (every cell)": (
        Field("seed", "", "seed for weights and inputs"),
        Field("weights", "", "the checkpoint loaded (--vb-weights), else null (random init)"),
        Field("warmup_iters", "", "warm-up calls after the first call"),
        Field("warmup_s", "s", "time spent warming up"),
        Field("notes", "", "what the optimization recorded (exporter, providers, LoRA rank and targets, ...)"),
        Field("warnings", "", "deprecation and tracer warnings raised while optimizing"),
        Field("rss_method", "", "whether the peak RSS was reset per cell (`VmHWM reset per cell`) or is the "
              "process lifetime peak"),
        Field("flops_counter", "", "how gmacs were counted"),
        Field("flops_ignored_ops", "", "operators fvcore skipped (elementwise ones)"),
        Field("fallback_details", "", "first line of each graph-break and recompile reason"),
        Field("compile_cache", "", "`warm`, `cold` or `mixed`: whether compiled graphs came from inductor's cache "
              "(null when nothing compiled)"),
        Field("trace_top_ops", "", "the top operators by self time (--vb-trace-top)"),
        Field("load_avg_1m", "", "1-minute load average right after the timed rounds"),
        Field("threads", "", "torch intra-op threads on CPU (null on CUDA)"),
        Field("lora_rank", "", "LoRA rank of a `lora_rN` optimization, else null"),
    ),
    "Machine probe and relative timing (the gate's inputs)": (
        _metric("norm_time"),
        Field("norm_time_samples", "x probe", "those per-round ratios"),
        Field("probe_ms_p50", "ms", "median probe time"),
        _metric("rel_time"),
        Field("rel_time_samples", "x eager", "those per-pair ratios"),
        Field("gate_confirm", "", "fresh confirmation sessions' samples and load, written by the gate"),
    ),
    "Training cells": (
        Field("optimizer", "", "adamw or sgd"),
        Field("lr", "", "learning rate"),
        Field("grad_scaler", "", "whether a GradScaler ran (amp_fp16)"),
        Field("forward_ms", "ms", "forward + loss, median of 3 steps timed phase by phase"),
        Field("backward_ms", "ms", "backward, likewise"),
        Field("optimizer_ms", "ms", "optimizer step + zero_grad, likewise"),
        Field("trainable_pct", "% of params", "trainable / all parameters"),
        Field("train_flops_factor", "", "3 for full training, 2 when weights are frozen (used by tflops_achieved)"),
        Field("optimizer_state_full_ft_mb", "MiB", "optimizer state full fine-tuning would hold"),
        Field("optimizer_state_saved_mb", "MiB", "optimizer state frozen weights save"),
        Field("mem_weights_mb", "MiB", "parameter bytes"),
        Field("mem_gradients_mb", "MiB", "gradient bytes"),
        Field("mem_optimizer_state_mb", "MiB", "optimizer state bytes"),
        Field("mem_activations_mb", "MiB", "what autograd saves for backward (null when compiled)"),
        Field("mem_optimizer_temporaries_mb", "MiB", "foreach AdamW's parameter-sized intermediates"),
        Field("mem_step_peak_mb", "MiB", "tensor bytes counted by a TorchDispatchMode during one step (null when "
              "compiled)"),
        Field("mem_breakdown_gap_mb", "MiB", "step peak minus weights + optimizer state + gradients + the larger of "
              "activations and optimizer temporaries"),
        Field("mem_breakdown_note", "", "how the breakdown was counted, or why part of it is null"),
    ),
    "Data cells and accuracy": (
        Field("data_images_per_s", "images/s", "decode + augment + collate throughput of the DataLoader"),
        Field("data_batches_per_round", "", "batches fetched per timed round"),
        Field("data_source", "", "the ImageFolder, or synthetic uint8 images"),
        Field("data_workers", "", "DataLoader worker processes"),
        Field("pin_memory", "", "pinned host memory"),
        Field("data_skipped_images", "", "corrupt images skipped"),
        Field("epoch_s", "s", "one training epoch on the same data"),
        Field("time_to_first_batch_s", "s", "from the loader's start to its first batch"),
        Field("epoch_data_wait_s", "s", "time the epoch waited for data"),
        Field("epoch_h2d_s", "s", "host-to-device copies in the epoch"),
        Field("epoch_compute_s", "s", "model time in the epoch"),
        Field("epoch_images", "images", "images in the epoch"),
        Field("accuracy_top1", "fraction", "top-1 accuracy on --vb-data with --vb-weights (else null)"),
        Field("accuracy_top5", "fraction", "top-5 accuracy, likewise"),
        Field("accuracy_images", "images", "images the accuracy was computed on"),
    ),
    "Telemetry (a background sampler during the timed rounds)": (
        Field("telemetry_source", "", "nvml, cpu, or off"),
        Field("telemetry_note", "", "why GPU fields are null or partial"),
        Field("telemetry_samples", "", "samples taken"),
        Field("gpu_util_pct_mean", "%", "GPU utilisation"),
        Field("gpu_mem_used_mb_max", "MiB", "GPU memory used (whole device)"),
        Field("gpu_temp_c_max", "degrees C", "GPU temperature"),
        Field("sm_clock_mhz_mean", "MHz", "SM clock, mean"),
        Field("sm_clock_mhz_min", "MHz", "SM clock, minimum"),
        Field("gpu_power_w_mean", "W", "board power"),
        Field("gpu_energy_j", "J", "energy over the timed rounds"),
        Field("gpu_energy_method", "", "`nvml_total_energy_counter` or `integrated_power`"),
        Field("energy_j_per_sample", "J/sample", "mean power x median latency per sample"),
        Field("throttle_reasons", "", "decoded clock-event reasons"),
        Field("other_gpu_pids", "", "other compute processes on the GPU"),
        Field("cpu_util_pct_mean", "%", "this process's CPU use (100 = one core busy)"),
        Field("rss_mb_max", "MiB", "this process's RSS, sampled"),
        Field("unstable", "", "true when throttling or another process was seen"),
        Field("unstable_reason", "", "which"),
    ),
    "pytest-xdist workers": (
        Field("xdist_worker", "", "the worker that measured the cell"),
        Field("parallel_mode", "", "serial, xdist-cpu or xdist-gpu"),
        Field("cuda_visible_devices", "", "the worker's CUDA_VISIBLE_DEVICES"),
    ),
    "DDP cells (mode ddp)": (
        Field("world_size", "", "GPUs in the run"),
        Field("samples_per_s_1gpu", "samples/s", "the same step on one GPU"),
        Field("scaling_efficiency", "", "samples/s on N / (N x samples/s on 1)"),
        Field("step_ms_p50", "ms", "median step (a step lasts as long as its slowest rank)"),
        Field("step_ms_p50_1gpu", "ms", "median step on one GPU"),
        Field("rank_skew_ms_p50", "ms", "median spread between the fastest and slowest rank per step"),
        Field("backend", "", "the process-group backend (nccl, gloo)"),
        Field("gpu_name", "", "the GPU model"),
        Field("stats_measure", "", "what pytest-benchmark's stats time for these cells"),
    ),
}

UNITS: dict[str, str] = {f.name: f.unit for f in CORE}
FIELDS: tuple[str, ...] = tuple(UNITS)
# Every documented key -> its field.
DOCUMENTED: dict[str, Field] = {f.name: f for f in (*CORE, *(f for group in GROUPS.values() for f in group))}
