"""Telemetry: reason decoding, energy, the unstable flag, the CPU sampler, and the fields in a real run.

The NVML calls themselves cannot run on this CPU-only machine; everything around them does.
"""

from __future__ import annotations

import json
import time
import warnings

import pytest
import torch

from vbench.metrics.telemetry import (Sample, Sampler, Telemetry, TelemetryWarning, decode_reasons, energy_joules,
                                      summarize)


def test_decode_reasons_names_every_bit_and_keeps_unknown_ones():
    assert decode_reasons(0) == []
    assert decode_reasons(0x1 | 0x10) == ["gpu_idle", "sync_boost"]
    assert decode_reasons(0x4 | 0x40) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert decode_reasons(0x800 | 0x8) == ["hw_slowdown", "bit_0x800"]


def test_energy_prefers_the_counter_and_else_integrates_power():
    counted = [Sample(0.0, power_w=100.0, energy_mj=1_000.0), Sample(2.0, power_w=300.0, energy_mj=401_000.0)]
    assert energy_joules(counted) == (400.0, "nvml_total_energy_counter")
    powered = [Sample(0.0, power_w=100.0), Sample(1.0, power_w=300.0), Sample(3.0, power_w=300.0)]
    assert energy_joules(powered) == (200.0 + 600.0, "integrated_power")
    assert energy_joules([Sample(0.0)]) == (None, None)


def test_thermal_or_power_throttling_and_other_processes_make_a_cell_unstable():
    def run(mask, pids=()):
        samples = [Sample(0.0, power_w=200.0, reasons_mask=0x1), Sample(1.0, power_w=200.0, reasons_mask=mask,
                                                                        other_pids=pids)]
        return summarize(samples, "nvml", None, per_sample_s=0.01)

    calm = run(0x10)
    assert (calm["unstable"], calm["unstable_reason"]) == (False, None)
    assert calm["throttle_reasons"] == ["gpu_idle", "sync_boost"]
    assert calm["gpu_power_w_mean"] == 200.0 and calm["energy_j_per_sample"] == pytest.approx(2.0)
    hot = run(0x20 | 0x4)
    assert hot["unstable"] and hot["unstable_reason"] == "sw_power_cap; sw_thermal_slowdown"
    shared = run(0, pids=(4242,))
    assert shared["unstable"] and shared["unstable_reason"] == "shared_gpu(pids=4242)"
    assert shared["other_gpu_pids"] == [4242]


def test_cpu_sampler_records_utilization_and_rss_and_warns_once_without_nvml():
    telemetry = Telemetry(interval_s=0.01)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            with telemetry.sampler(torch.device("cpu")) as sampler:
                end = time.perf_counter() + 0.1
                while time.perf_counter() < end:
                    sum(range(1000))
    fields = sampler.fields(per_sample_s=0.001)
    assert fields["telemetry_source"] == "cpu" and fields["telemetry_samples"] >= 3
    assert fields["cpu_util_pct_mean"] > 0 and fields["rss_mb_max"] > 0
    assert fields["gpu_util_pct_mean"] is None and fields["gpu_energy_j"] is None and fields["throttle_reasons"] is None
    assert fields["unstable"] is False
    if telemetry._nvml is None:  # this machine: no NVML library
        assert "NVML unavailable" in fields["telemetry_note"]
        assert len([w for w in caught if issubclass(w.category, TelemetryWarning)]) == 1


def test_a_probe_failing_mid_run_keeps_the_cell_and_says_so():
    class FailingProbe:  # stands in for NVML, which cannot run here
        def read(self, sample):
            raise RuntimeError("GPU is lost")

    with Sampler("nvml", 0.01, gpu=FailingProbe()) as sampler:
        time.sleep(0.05)
    fields = sampler.fields()
    assert fields["telemetry_source"] == "cpu" and "GPU is lost" in fields["telemetry_note"]
    assert fields["rss_mb_max"] > 0


def test_cells_carry_telemetry_fields_null_on_cpu_with_the_reason(vb_project, pytester):
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1,2",
                        "--vb-img-sizes", "16", "--benchmark-json", "out.json", "--vb-telemetry-interval", "0.01")
    result.assert_outcomes(passed=2)
    data = json.loads((pytester.path / "out.json").read_text())
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert info["telemetry_source"] == "cpu" and info["telemetry_note"].startswith("device is cpu")
        assert info["gpu_power_w_mean"] is None and info["energy_j_per_sample"] is None
        assert info["unstable"] is False and info["unstable_reason"] is None and info["rss_mb_max"] > 0
    assert result.stdout.str().count("NVML unavailable") <= 1


def test_scale_options_resolve_and_refuse_bad_values():
    from vbench.errors import VBenchError
    from vbench.settings import resolve_settings

    s = resolve_settings({"gpu_per_worker": "on", "telemetry": "off", "telemetry_interval": "0.2"})
    assert s.gpu_per_worker is True and s.telemetry is False and s.telemetry_interval_s == 0.2
    assert resolve_settings({}).gpu_per_worker is False and resolve_settings({}).telemetry is True
    for bad in ("0", "-1", "fast"):
        with pytest.raises(VBenchError, match="--vb-telemetry-interval must be a positive number"):
            resolve_settings({"telemetry_interval": bad})
    sampler = Telemetry(enabled=False).sampler(torch.device("cpu"))
    with sampler:
        pass
    assert sampler.fields()["telemetry_source"] == "off" and sampler.fields()["unstable"] is False
