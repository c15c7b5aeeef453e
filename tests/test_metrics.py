"""FLOPs, parameters, memory and MFU, checked against timm's published figures where they exist."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vbench.metrics import PeakMemory, count_flops, count_params, dense_peak_tflops, mfu
from vbench.models import create_model


# timm's model cards: (GMACs, params in millions) at 224 px.
@pytest.mark.parametrize("name, gmacs, params_m", [
    ("resnet18", 1.8, 11.7),
    ("deit_small_patch16_224", 4.6, 22.1),
    ("densenet121", 2.9, 8.0),
])
def test_flops_and_params_match_timms_published_figures(name, gmacs, params_m):
    model = create_model(name)
    count = count_flops(model, torch.randn(1, 3, 224, 224))
    assert count.gmacs == pytest.approx(gmacs, abs=0.05)
    assert count.gflops == pytest.approx(2 * count.gmacs)
    total, trainable = count_params(model)
    assert total / 1e6 == pytest.approx(params_m, abs=0.05) and trainable == total


def test_fused_attention_is_counted():
    """vit_tiny at 224: 197 tokens, 3 heads x 64 dims, 12 blocks -> 2 x 197^2 x 192 x 12 attention MACs."""
    model = create_model("vit_tiny_patch16_224")
    count = count_flops(model, torch.randn(2, 3, 224, 224))  # per sample, whatever the batch
    attention = sum(v for k, v in count.by_module.items() if k.endswith("attn")) - sum(
        v for k, v in count.by_module.items() if k.endswith(("attn.qkv", "attn.proj")))
    assert attention == pytest.approx(2 * 197**2 * 192 * 12 / 1e9, rel=1e-6)
    assert "aten::scaled_dot_product_attention" not in count.ignored_ops


def test_trainable_params_follow_requires_grad_and_tied_weights_count_once():
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    model[1].weight = model[0].weight
    model[0].bias.requires_grad_(False)
    assert count_params(model) == (16 + 4 + 4, 16 + 4)


def test_peak_memory_on_cpu_reports_rss_and_no_cuda_fields():
    with PeakMemory(torch.device("cpu")) as memory:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB touched
        del block
    assert memory.sample.peak_mem_allocated_mb is None and memory.sample.peak_mem_reserved_mb is None
    assert memory.sample.peak_rss_mb > 64
    assert memory.sample.rss_method in ("VmHWM reset per cell", "process lifetime peak")


def test_peak_table_and_mfu():
    assert dense_peak_tflops("NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(989.4)
    assert dense_peak_tflops("NVIDIA H100 PCIe", "bf16") == pytest.approx(756.0)
    assert dense_peak_tflops("Tesla T4", "bf16") is None
    assert dense_peak_tflops("Some Future GPU", "fp32") is None
    assert mfu(98.94, "NVIDIA H100 80GB HBM3", "bf16") == pytest.approx(0.1)
    assert mfu(10.0, None, "fp32") is None
