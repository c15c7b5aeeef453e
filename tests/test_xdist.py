"""pytest-xdist scale-out: real inner sessions with 2 workers (subprocess), real tiny models, one merged JSON."""

from __future__ import annotations

import json

import pytest

from tests.conftest import FAST
from vbench.pytest_plugin.xdist import ParallelPlan, RemoteBenchmark, cpu_share, model_scope, plan_parallel, write_json_atomic

CELLS = ["--vb-models", "tiny_net,tiny_crash_net", "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1,2",
         "--vb-img-sizes", "16", "-W", "ignore::FutureWarning"]

CRASHING_MODEL = '''

class Crash(TinyNet):
    def forward(self, x):
        if x.shape[0] >= 2:
            import os
            os._exit(3)  # the worker process dies mid-cell
        return super().forward(x)


@register_model(family="custom", img_size=16, overwrite=True)
def tiny_crash_net(img_size, num_classes):
    return Crash(num_classes)
'''


def _subprocess(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Workers need their own processes; the inner controller must not look like a worker either.
    return pytester.runpytest_subprocess(*FAST, *args, timeout=300)


def test_two_cpu_workers_write_one_merged_json_with_every_cell_once(vb_project, pytester):
    # tiny_crash_net kills its worker at batch 2: that cell fails once, no measured cell is lost.
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + CRASHING_MODEL)
    result = _subprocess(pytester, "-n", "2", *CELLS, "--benchmark-json", "out.json",
                         "--benchmark-storage", "store", "--benchmark-save", "par")
    result.assert_outcomes(passed=6, failed=2)
    result.stdout.fnmatch_lines(["*Name (time in *", "*test_inference[[]tiny_net-eager-bs1-16px[]]*"])
    saved = list((pytester.path / "store").rglob("*par.json"))
    assert len(saved) == 1 and len(json.loads(saved[0].read_text())["benchmarks"]) == 6
    data = json.loads((pytester.path / "out.json").read_text())
    names = [b["name"] for b in data["benchmarks"]]
    assert len(names) == len(set(names)) == 6
    assert not any("tiny_crash_net" in n and "bs2" in n for n in names)
    assert data["machine_info"]["parallel_mode"] == "xdist-cpu"
    assert data["machine_info"]["hardware_key"].endswith("-1t-torch" + data["machine_info"]["torch_version"]
                                                          .split("+")[0] + "-xdist-cpu-2w")
    assert data["vbench"]["parallel"] == {"mode": "xdist-cpu", "workers": 2, "threads_per_worker": 1, "gpus": []}
    workers = {}
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert len(bench["stats"]["data"]) >= 3 and info["samples_per_s"] > 0
        assert info["parallel_mode"] == "xdist-cpu"
        workers.setdefault(info["model"], set()).add(info["xdist_worker"])
    # One worker keeps one model across optimizations and batch sizes (the crashing model moves on).
    assert len(workers["tiny_net"]) == 1, workers


def test_gpu_per_worker_without_gpu_is_a_usage_error(vb_project, pytester):
    result = _subprocess(pytester, "-n", "2", "--vb-gpu-per-worker", "--vb-models", "tiny_net")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vb-gpu-per-worker: no CUDA GPU is visible here*"])


def test_serial_run_records_serial_mode_and_keeps_the_hardware_key(vb_project, pytester):
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1",
                        "--vb-img-sizes", "16", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    data = json.loads((pytester.path / "out.json").read_text())
    assert data["machine_info"]["parallel_mode"] == "serial"
    assert "xdist" not in data["machine_info"]["hardware_key"]
    assert data["vbench"]["parallel"]["mode"] == "serial"


def test_plan_parallel_rules():
    gpus = ["0", "1"]
    assert plan_parallel(0, gpu_per_worker=False, device_type="cpu", gpus=[], cores=2) == ParallelPlan()
    plan = plan_parallel(4, gpu_per_worker=True, device_type="cuda", gpus=gpus, cores=16)
    assert (plan.mode, plan.workers, plan.gpus) == ("xdist-gpu", 2, ("0", "1")) and "using 2 worker" in plan.notes[0]
    assert plan.key_suffix() == "-xdist-gpu-2w"
    assert "refused" in plan_parallel(2, gpu_per_worker=False, device_type="cuda", gpus=gpus, cores=16).refused
    assert "no CUDA GPU" in plan_parallel(2, gpu_per_worker=True, device_type="cpu", gpus=[], cores=2).refused
    cpu = plan_parallel(2, gpu_per_worker=False, device_type="cpu", gpus=[], cores=8, threads=2)
    assert (cpu.mode, cpu.threads_per_worker) == ("xdist-cpu", 2)
    assert cpu_share([0, 1, 2, 3, 4], 2, 1) == [2, 3]


def test_model_scope_groups_cells_by_model():
    assert model_scope("bench/test_train.py::test_train[vit_tiny_patch16_224-lora_r8_merged-bs8-64px]") == \
        "vbench-model:vit_tiny_patch16_224"
    assert model_scope("t.py::test_inference[resnet18-channels_last+amp_bf16-bs1-32px]") == "vbench-model:resnet18"
    assert model_scope("tests/test_x.py::test_plain") == "tests/test_x.py"


def test_remote_benchmark_and_atomic_write(tmp_path):
    raw = {"name": "t[a]", "fullname": "f::t[a]", "group": None, "extra_info": {"x": 1},
           "stats": {"min": 1.0, "data": [1.0, 2.0]}}
    bench = RemoteBenchmark(raw)
    assert bench.as_dict(include_data=False)["stats"] == {"min": 1.0}
    assert bench.as_dict(include_data=False, flat=True)["min"] == 1.0
    out = tmp_path / "o.json"
    write_json_atomic(out, {"benchmarks": [bench.as_dict()]})
    assert json.loads(out.read_text())["benchmarks"][0]["stats"]["data"] == [1.0, 2.0]
    assert [p.name for p in tmp_path.iterdir()] == ["o.json"]



@pytest.mark.parametrize("order", [[], ["-p", "no:vbench", "-p", "vbench.pytest_plugin.plugin"]])
def test_workers_measure_whatever_order_the_plugins_load_in(tmp_path, order):
    # `pytest bench -n 2` of this repository, with vbench's plugin loaded before pytest-benchmark's
    # (as some checkouts' entry point order did): the workers must still measure and the controller
    # write one merged JSON.
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "x.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider", *order, "--vb-models", "resnet18",
         "--vb-opts", "eager", "--vb-batch-sizes", "1", "--vb-img-sizes", "32", "--vb-modes", "inference",
         "-n", "2", f"--benchmark-json={out}", "--benchmark-max-time=0.01", "--benchmark-min-rounds=3"],
        cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "automatically disabled" not in proc.stdout
    data = json.loads(out.read_text())
    assert [b["param"] for b in data["benchmarks"]] == ["resnet18-eager-bs1-32px"]
    assert data["machine_info"]["parallel_mode"] == "xdist-cpu"
