"""The pytest plugin end to end: real pytest sessions (pytester), real models, real JSON."""

from __future__ import annotations

import json

import pytest
import torch

from vbench.profiles import STANDARD_MODELS
from vbench.schema import FIELDS


def _load(pytester: pytest.Pytester, name: str = "out.json") -> dict:
    return json.loads((pytester.path / name).read_text())


def test_ids_are_model_opt_batch_size(vb_project):
    result = vb_project("--collect-only", "-q", "--vb-models", "tiny_net", "--vb-opts", "eager,channels_last+amp_bf16",
                        "--vb-batch-sizes", "1,4", "--vb-img-sizes", "16")
    result.stdout.fnmatch_lines([
        "test_cells.py::test_inference[[]tiny_net-eager-bs1-16px[]]",
        "test_cells.py::test_inference[[]tiny_net-eager-bs4-16px[]]",
        "test_cells.py::test_inference[[]tiny_net-channels_last+amp_bf16-bs1-16px[]]",
        "test_cells.py::test_inference[[]tiny_net-channels_last+amp_bf16-bs4-16px[]]",
        "4 tests collected*",
    ])


def test_standard_profile_lists_five_models_every_optimization_four_batch_sizes(vb_project):
    from vbench.optimizations.plan import list_optimizations

    result = vb_project("--collect-only", "-q", "--vb-profile", "standard")
    ids = [line for line in result.outlines if "test_inference[" in line and "lora" not in line]
    assert len(ids) == len(STANDARD_MODELS) * len(list_optimizations()) * 4
    assert "test_cells.py::test_inference[vit_base_patch16_224-amp_bf16-bs32-224px]" in ids
    assert {i.split("[")[1].split("-")[0] for i in ids} == set(STANDARD_MODELS)


def test_default_profile_on_cpu_is_smoke_with_five_families(vb_project):
    result = vb_project("--collect-only", "-q")
    ids = [line for line in result.outlines if "test_inference[" in line]
    families = {"vit_tiny", "deit_tiny", "swin_tiny", "resnet18", "densenet121"}
    assert all(any(f in i for i in ids) for f in families)
    assert {i.split("-bs")[1].split("-")[0] for i in ids} == {"1", "8"}
    assert len({i.split("[")[1].split("-")[1] for i in ids}) >= 5


def test_a_cell_records_every_schema_field_and_machine_info(vb_project, pytester):
    result = vb_project("--vb-models", "resnet18", "--vb-opts", "eager,bf16", "--vb-batch-sizes", "2",
                        "--vb-img-sizes", "32", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    data = _load(pytester)
    assert len(data["benchmarks"]) == 2
    for bench in data["benchmarks"]:
        info = bench["extra_info"]
        assert set(FIELDS) <= set(info), set(FIELDS) - set(info)
        assert info["model"] == "resnet18" and info["batch_size"] == 2 and info["img_size"] == 32
        assert info["device"] == "cpu" and info["peak_mem_allocated_mb"] is None
        assert info["peak_rss_mb"] > 0 and info["samples_per_s"] > 0
        assert info["latency_ms_p50"] <= info["latency_ms_p90"] <= info["latency_ms_p99"]
        assert info["gflops"] == pytest.approx(2 * info["gmacs"])
        assert info["params"] == info["trainable_params"] == 11_689_512
        assert info["cold_start_s"] >= info["first_call_s"] > 0
        assert len(bench["stats"]["data"]) == bench["stats"]["rounds"] == info["rounds"]
    by_opt = {b["extra_info"]["optimization"]: b["extra_info"] for b in data["benchmarks"]}
    assert by_opt["eager"]["max_rel_err"] == 0 and by_opt["eager"]["top1_agreement"] == 1
    assert 0 < by_opt["bf16"]["max_rel_err"] < 0.1 and by_opt["bf16"]["precision"] == "bf16"
    machine = data["machine_info"]
    for key in ("hardware_key", "torch_version", "timm_version", "peft_version", "cuda_version", "cudnn_version",
                "gpu_names", "gpu_count", "gpu_driver", "cpu_model", "tf32_matmul", "cudnn_benchmark"):
        assert key in machine
    assert machine["hardware_key"].endswith(f"t-torch{machine['torch_version'].split('+')[0]}")
    assert data["vbench"]["profile"] == "smoke" and data["vbench"]["skipped"] == []


def test_ini_options_set_the_matrix_and_the_command_line_wins(vb_project, pytester):
    pytester.makeini("[pytest]\nvb_models = tiny_net\nvb_opts = eager\nvb_batch_sizes = 2,3\nvb_img_sizes = 16\n")
    result = vb_project("--collect-only", "-q")
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs2-16px*", "*tiny_net-eager-bs3-16px*", "2 tests collected*"])
    result = vb_project("--collect-only", "-q", "--vb-batch-sizes", "5")
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs5-16px*", "1 test collected*"])


def test_k_and_markers_select_cells(vb_project):
    base = ("--collect-only", "-q", "--vb-models", "tiny_net", "--vb-opts", "eager,compile,tf32",
            "--vb-batch-sizes", "1", "--vb-img-sizes", "16")
    result = vb_project(*base, "-k", "compile")
    result.stdout.fnmatch_lines(["*tiny_net-compile-bs1-16px*", "1/3 tests collected*"])
    result = vb_project(*base, "-m", "gpu")
    result.stdout.fnmatch_lines(["*tiny_net-tf32-bs1-16px*", "1/3 tests collected*"])
    result = vb_project(*base, "-m", "inference and not compile and not gpu")
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs1-16px*", "1/3 tests collected*"])


def test_cells_that_cannot_run_here_are_skipped_with_the_reason(vb_project, pytester):
    pytester.makeconftest(pytester.path.joinpath("conftest.py").read_text() + """
from vbench import register_optimization

@register_optimization("needs_missing_pkg", requires=(("vbench_no_such_module", "vbench-no-such-package"),),
                       overwrite=True)
def needs_missing_pkg(exe, ctx):
    return exe
""")
    result = vb_project("-rs", "--vb-models", "tiny_net", "--vb-opts", "eager,tf32,needs_missing_pkg",
                        "--vb-batch-sizes", "2", "--vb-img-sizes", "16", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines([
        "*tf32 needs cuda; this run is on cpu*",
        "*needs_missing_pkg needs vbench_no_such_module: pip install vbench-no-such-package*",
    ])
    skipped = {s["optimization"]: s["reason"] for s in _load(pytester)["vbench"]["skipped"]}
    assert skipped == {
        "tf32": "tf32 needs cuda; this run is on cpu",
        "needs_missing_pkg": "needs_missing_pkg needs vbench_no_such_module: pip install vbench-no-such-package",
    }


def test_out_of_memory_cell_is_skipped_and_the_run_goes_on(vb_project, pytester):
    result = vb_project("-rs", "--vb-models", "tiny_oom_net,tiny_net", "--vb-opts", "eager",
                        "--vb-batch-sizes", "2,8", "--vb-img-sizes", "16", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines(["*tiny_oom_net-eager-bs8-16px*out of memory at batch 8*"])
    data = _load(pytester)
    assert sorted(b["param"] for b in data["benchmarks"]) == [
        "tiny_net-eager-bs2-16px", "tiny_net-eager-bs8-16px", "tiny_oom_net-eager-bs2-16px"]
    assert data["vbench"]["skipped"][0]["reason"] == "out of memory at batch 8"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--vb-models", "resnet5O"], "ERROR: unknown model 'resnet5O'; did you mean resnet50*"),
        (["--vb-models", "tiny_net", "--vb-opts", "amp_bf61"], "ERROR: unknown optimization 'amp_bf61'; did you mean amp_bf16*"),
        (["--vb-batch-sizes", "0"], "ERROR: batch sizes must be positive integers, got 0"),
        (["--vb-batch-sizes", "8,x"], "ERROR: batch sizes must be comma-separated positive integers, got 'x'"),
        (["--vb-img-sizes", "-3"], "ERROR: image sizes must be positive integers, got -3"),
        (["--vb-device", "tpu"], "ERROR: --vb-device must be auto, cpu, cuda or cuda:N, got 'tpu'"),
        (["--vb-profile", "smok"], "ERROR: unknown profile 'smok'; did you mean smoke*"),
        (["--vb-opts", "compile+torchscript"], "ERROR: optimization 'compile+torchscript' combines 2 compilers*"),
        (["--vb-models", "nosuch*"], "ERROR: model pattern 'nosuch*' matches no registered or timm model"),
    ],
)
def test_bad_input_is_one_usage_line_before_any_cell(vb_project, args, message):
    result = vb_project(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    result.stdout.no_fnmatch_line("*passed*")


def test_matrix_file_replaces_the_profile_and_bad_yaml_is_one_line(vb_project, pytester):
    pytester.makefile(".yaml", matrix="entries:\n  - models: [tiny_net]\n    optimizations: [eager, bf16]\n"
                                      "    batch_sizes: [1]\n    img_sizes: [16]\n")
    result = vb_project("--collect-only", "-q", "--vb-matrix", "matrix.yaml")
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs1-16px*", "*tiny_net-bf16-bs1-16px*", "2 tests collected*"])
    pytester.makefile(".yaml", broken="entries:\n  - models: [tiny_net\n")
    result = vb_project("--vb-matrix", "broken.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *matrix file 'broken.yaml' is not valid YAML at line *"])
    pytester.makefile(".yaml", typo="entries:\n  - models: [tiny_net]\n    optimisations: [eager]\n    batch_sizes: [1]\n")
    result = vb_project("--vb-matrix", "typo.yaml")
    result.stderr.fnmatch_lines(["ERROR: typo.yaml entry 1: unknown key 'optimisations'; allowed: *"])


def test_pytest_benchmark_compare_reads_vbench_json(vb_project, pytester):
    vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "2", "--vb-img-sizes", "16",
               "--benchmark-autosave", "--benchmark-storage", "file://store").assert_outcomes(passed=1)
    saved = list((pytester.path / "store").rglob("*.json"))
    assert len(saved) == 1
    result = pytester.run("pytest-benchmark", "--storage", "file://store", "compare", str(saved[0]))
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs2-16px*"])


def test_fvcores_deprecation_warning_stays_out_of_a_users_run(pytester, monkeypatch):
    # A fresh process (fvcore warns once, at import) in a repository without vbench's own ini filter.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    from conftest import CELL_MODULE, FAST, USER_CONFTEST

    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_cells=CELL_MODULE)
    result = pytester.runpytest_subprocess(*FAST, "--vb-models", "tiny_net", "--vb-opts", "eager",
                                           "--vb-batch-sizes", "1")
    result.assert_outcomes(passed=1)
    assert "torch.jit.script" not in result.stdout.str() + result.stderr.str()


def test_a_cell_its_own_function_skips_is_listed_as_skipped(vb_project, pytester):
    pytester.makepyfile(test_cells="""
import pytest

@pytest.mark.vbench(mode="inference")
def test_inference(vb_cell, vb_measure):
    if vb_cell.batch_size == 2:
        pytest.skip("needs two GPUs")
    vb_measure(vb_cell)
""")
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1,2",
                        "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1, skipped=1)
    skipped = json.loads((pytester.path / "out.json").read_text())["vbench"]["skipped"]
    assert skipped == [{"id": "tiny_net-eager-bs2-64px", "reason": "needs two GPUs"}]


def test_weights_for_a_model_not_in_the_run_is_a_usage_error(vb_project, pytester):
    ckpt = pytester.path / "ckpt.pth"
    ckpt.write_bytes(b"")
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1",
                        "--vb-weights", f"tiny_nett={ckpt}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vb-weights tiny_nett: not a model of this run (selected: tiny_net)*"])


def test_a_size_the_model_cannot_take_is_skipped_with_the_reason(vb_project):
    result = vb_project("--vb-models", "vit_tiny_patch16_224,tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1",
                        "--vb-img-sizes", "8", "-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*vit_tiny_patch16_224-eager-bs1-8px: vit_tiny_patch16_224 (fp32 eager) cannot run at "
                                 "8px: RuntimeError: Calculated padded input size*"])
    assert "Traceback" not in result.stdout.str()


def test_a_model_broken_at_every_size_fails_its_cell_instead_of_skipping(vb_project, pytester):
    from conftest import USER_CONFTEST

    pytester.makeconftest(USER_CONFTEST + """

class Broken(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.fc = nn.Linear(7, num_classes)

    def forward(self, x):
        return self.fc(x.flatten(1))  # a shape bug: fails whatever the image size


@register_model(family="custom", img_size=16, overwrite=True)
def broken_net(img_size, num_classes):
    return Broken(num_classes)
""")
    result = vb_project("--vb-models", "broken_net", "--vb-opts", "eager", "--vb-batch-sizes", "1", "--vb-img-sizes", "8")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: mat1 and mat2 shapes cannot be multiplied*"])


@pytest.mark.parametrize("save, message", [
    (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a state dict"),
    (lambda p: p.write_bytes(b"PK\x03\x04 cut short"), "truncated or corrupt"),
])
def test_a_bad_checkpoint_stops_the_run_before_the_first_cell(vb_project, pytester, save, message):
    ckpt = pytester.path / "ckpt.pth"
    save(ckpt)
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1",
                        "--vb-weights", f"tiny_net={ckpt}", "--benchmark-json", "out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: weights '*ckpt.pth': {message}*"])
    assert "Traceback" not in result.stderr.str() and not (pytester.path / "out.json").exists()
    assert "passed" not in result.stdout.str()  # no cell ran


@pytest.mark.parametrize("make, flag, message", [
    (lambda p: p.mkdir(), "--benchmark-json", "is a folder, not a file"),
    (lambda p: None, "--vb-verdict-json", "cannot create it"),
])
def test_output_paths_are_checked_before_the_first_cell(vb_project, pytester, make, flag, message):
    target = pytester.path / "out.json"
    make(target)
    value = str(target) if flag == "--benchmark-json" else "/proc/version/v.json"
    result = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1", f"{flag}={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{flag} *{message}*"])
    assert "passed" not in result.stdout.str()


def test_pytest_benchmarks_table_is_narrow_unless_columns_are_asked_for(vb_project):
    narrow = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1")
    header = next(line for line in narrow.stdout.lines if line.startswith("Name (time in"))
    assert header.split(")", 1)[1].split() == ["Min", "Median", "Max", "IQR", "Rounds"]
    wide = vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1",
                      "--benchmark-columns=min,ops")
    header = next(line for line in wide.stdout.lines if line.startswith("Name (time in"))
    assert header.split(")", 1)[1].split()[:2] == ["Min", "OPS"]
