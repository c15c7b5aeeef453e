"""machine_info and the hardware key."""

from __future__ import annotations

import re

import torch

from vbench.machine import hardware_key, machine_info


def test_cpu_hardware_key_names_cpu_threads_and_torch():
    key = hardware_key("cpu", threads=2)
    assert re.fullmatch(r"[a-z0-9.-]+-2t-torch\d+\.\d+\.\d+", key), key
    assert hardware_key("cpu", threads=4) != key


def test_machine_info_records_versions_and_numeric_flags():
    info = machine_info("cpu")
    assert info["torch_version"] == torch.__version__
    assert info["timm_version"] and info["peft_version"] and info["fvcore_version"]
    assert info["hardware_key"] == hardware_key("cpu")
    assert info["tf32_matmul"] == torch.backends.cuda.matmul.allow_tf32
    assert info["gpu_count"] == len(info["gpu_names"])
    assert info["cpu_model"]
