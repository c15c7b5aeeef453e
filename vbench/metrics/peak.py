"""Dense peak throughput of known GPUs, for model FLOPs utilisation (MFU).

Figures are the vendors' dense (no structured sparsity) tensor-core peaks in TFLOP/s, or TOP/s for
int8; fp32 is the non-tensor-core peak. A GPU not in the table gets ``mfu = None``, never a guess.
"""

from __future__ import annotations

__all__ = ["PEAK_TFLOPS", "dense_peak_tflops", "mfu"]

# name substring (matched against torch.cuda.get_device_name, case-insensitive) -> precision -> TFLOP/s
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "H200": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "int8": 1978.9},
    "H100 PCIe": {"fp32": 51.2, "tf32": 378.0, "bf16": 756.0, "fp16": 756.0, "int8": 1513.0},
    "H100": {"fp32": 67.0, "tf32": 494.7, "bf16": 989.4, "fp16": 989.4, "int8": 1978.9},
    "A100": {"fp32": 19.5, "tf32": 156.0, "bf16": 312.0, "fp16": 312.0, "int8": 624.0},
    "L40S": {"fp32": 91.6, "tf32": 183.0, "bf16": 362.0, "fp16": 362.0, "int8": 733.0},
    "L4": {"fp32": 30.3, "tf32": 60.0, "bf16": 121.0, "fp16": 121.0, "int8": 242.0},
    "A10G": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0, "int8": 250.0},
    "A10": {"fp32": 31.2, "tf32": 62.5, "bf16": 125.0, "fp16": 125.0, "int8": 250.0},
    "T4": {"fp32": 8.1, "fp16": 65.0, "int8": 130.0},
    "V100": {"fp32": 15.7, "fp16": 125.0},
    "RTX 4090": {"fp32": 82.6, "tf32": 82.6, "bf16": 165.2, "fp16": 165.2, "int8": 660.6},
}


def dense_peak_tflops(device_name: str | None, precision: str) -> float | None:
    """Peak TFLOP/s of ``device_name`` at ``precision``, or None when the GPU or precision is unknown.

    Longer table keys are tried first, so "H100 PCIe" wins over "H100".
    """
    if not device_name:
        return None
    name = device_name.lower()
    for key in sorted(PEAK_TFLOPS, key=len, reverse=True):
        if key.lower() in name:
            return PEAK_TFLOPS[key].get(precision)
    return None


def mfu(tflops_achieved: float | None, device_name: str | None, precision: str) -> float | None:
    """Achieved over peak throughput (0..1), or None when either is unknown."""
    peak = dense_peak_tflops(device_name, precision)
    if peak is None or tflops_achieved is None:
        return None
    return tflops_achieved / peak
