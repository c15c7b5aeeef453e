"""Option resolution into RunSettings, without a pytest config."""

from __future__ import annotations

import pytest
import torch

from vbench.errors import VBenchError
from vbench.settings import OPTIONS, resolve_device, resolve_settings


def test_defaults_on_cpu():
    s = resolve_settings({})
    assert s.device == torch.device("cpu") and s.profile == "smoke"
    assert s.tf32 is False and s.cudnn_benchmark is True and s.compile_mode == "default"
    assert s.overrides.models is None and s.warmup.min_time_s == 0.2


def test_every_option_has_a_flag_an_ini_name_and_help():
    for spec in OPTIONS:
        assert spec.flag.startswith("--vb-") and spec.ini.startswith("vb_") and spec.help


def test_overrides_are_parsed():
    s = resolve_settings({"models": "resnet18, vit_tiny_patch16_224", "opts": "eager,channels_last+amp_bf16",
                          "batch_sizes": "1,8", "img_sizes": "64", "modes": "inference", "tf32": "on",
                          "threads": "1", "compile_mode": "max-autotune", "profile": "full"})
    assert s.overrides.models == ("resnet18", "vit_tiny_patch16_224")
    assert s.overrides.optimizations == ("eager", "channels_last+amp_bf16")
    assert s.overrides.batch_sizes == (1, 8) and s.overrides.img_sizes == (64,)
    assert s.tf32 and s.threads == 1 and s.compile_mode == "max-autotune" and s.profile == "full"


@pytest.mark.parametrize("options, message", [
    ({"device": "cuda"}, "CUDA is not available"),
    ({"device": "gpu0"}, "must be auto, cpu, cuda or cuda:N"),
    ({"tf32": "maybe"}, "--vb-tf32 must be on or off"),
    ({"compile_mode": "fast"}, "--vb-compile-mode must be one of"),
    ({"modes": "inference,trian"}, "unknown mode 'trian'"),
    ({"threads": "0"}, "must be positive integers"),
    ({"warmup_time": "-1"}, "--vb-warmup-time must be >= 0"),
    ({"seed": "x"}, "--vb-seed must be an integer"),
    ({"weights": "resnet18"}, "neither MODEL=PATH pairs nor an existing folder"),
    ({"weights": "resnet18=/no/such.pth"}, "file '/no/such.pth' does not exist"),
])
def test_bad_options_are_one_line_errors(options, message):
    if not torch.cuda.is_available() or "cuda" not in options.get("device", ""):
        with pytest.raises(VBenchError, match=message):
            resolve_settings(options)


def test_weights_by_pairs_and_by_folder(tmp_path):
    (tmp_path / "resnet18.safetensors").write_bytes(b"")
    s = resolve_settings({"weights": str(tmp_path)})
    assert s.weights_for("resnet18") == tmp_path / "resnet18.safetensors" and s.weights_for("resnet50") is None
    s = resolve_settings({"weights": f"resnet50={tmp_path / 'resnet18.safetensors'}"})
    assert s.weights_for("resnet50") == tmp_path / "resnet18.safetensors"


def test_auto_device_picks_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_threads_default_to_half_the_usable_cores_on_cpu_and_torchs_choice_on_request():
    import torch

    from vbench.settings import resolve_threads, usable_cores

    cpu = torch.device("cpu")
    assert resolve_threads(None, cpu) == max(1, usable_cores() // 2)
    assert resolve_threads("auto", cpu) == max(1, usable_cores() // 2)
    assert resolve_threads("all", cpu) is None and resolve_threads("3", cpu) == 3
    assert resolve_threads("auto", torch.device("cuda", 0)) is None
    with pytest.raises(VBenchError, match="--vb-threads"):
        resolve_threads("many", cpu)


def test_probe_follows_the_device_unless_set():
    assert resolve_settings({}).probe is True  # this machine: CPU
    assert resolve_settings({"probe": "off"}).probe is False
    with pytest.raises(VBenchError, match="--vb-probe must be on or off"):
        resolve_settings({"probe": "maybe"})


@pytest.mark.parametrize("name", ["batch_sizes", "img_sizes", "modes", "models", "opts"])
def test_an_empty_list_option_is_refused_not_defaulted(name):
    with pytest.raises(VBenchError, match=f"--vb-{name.replace('_', '-')} is empty"):
        resolve_settings({name: ""})


def test_a_batch_size_beyond_any_machine_is_one_line():
    with pytest.raises(VBenchError, match="at most 1,000,000"):
        resolve_settings({"batch_sizes": "99999999999999999999"})
