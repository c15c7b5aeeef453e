"""What hardware and software a run was measured on, and the short key that picks baselines.

Two runs are comparable only when their ``hardware_key`` is equal: same GPU model (or CPU model and
thread count), same CUDA and same torch. pytest-benchmark's own machine id (OS + Python) would put an
H100 and a T4 run in one folder.
"""

from __future__ import annotations

import os
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

__all__ = ["machine_info", "hardware_key", "cpu_model", "gpu_names", "nvml_driver_version"]


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo, else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """Names of the visible CUDA devices (empty without CUDA)."""
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def nvml_driver_version() -> str | None:
    """The NVIDIA driver version through NVML, or None where NVML is unavailable."""
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            version = pynvml.nvmlSystemGetDriverVersion()
        finally:
            pynvml.nvmlShutdown()
    except Exception:  # no driver, no library: the field is None, which says so
        return None
    return version.decode() if isinstance(version, bytes) else version


def _slug(text: str) -> str:
    text = re.sub(r"\((R|TM)\)|CPU|@.*$|Processor", "", text, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9.]+", "-", text.strip()).strip("-").lower()


def hardware_key(device: torch.device | str, threads: int | None = None) -> str:
    """A short, filesystem-safe key for baselines: ``gpu-cuda-torch`` or ``cpu-threads-torch``.

    Examples: ``nvidia-h100-80gb-hbm3-cuda12.8-torch2.11.0``, ``intel-xeon-platinum-8481c-2t-torch2.14.1``.
    """
    device = torch.device(device)
    torch_version = torch.__version__.split("+")[0]
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"{_slug(torch.cuda.get_device_name(index))}-cuda{torch.version.cuda}-torch{torch_version}"
    threads = threads or torch.get_num_threads()
    return f"{_slug(cpu_model())}-{threads}t-torch{torch_version}"


def machine_info(device: torch.device | str) -> dict[str, Any]:
    """Hardware, driver and library versions and numeric flags, for pytest-benchmark's machine_info."""
    device = torch.device(device)
    names = gpu_names()
    return {
        "hardware_key": hardware_key(device),
        "vbench_device": str(device),
        "gpu_names": names,
        "gpu_count": len(names),
        "gpu_driver": nvml_driver_version() if names else None,
        "cuda_version": torch.version.cuda,
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "torch_version": torch.__version__,
        "torchvision_version": _version("torchvision"),
        "timm_version": _version("timm"),
        "peft_version": _version("peft"),
        "fvcore_version": _version("fvcore"),
        "vbench_version": _version("vbench"),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "cudnn_deterministic": torch.backends.cudnn.deterministic,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
