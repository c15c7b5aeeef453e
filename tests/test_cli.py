"""The vbench command, run as a real subprocess."""

from __future__ import annotations

import subprocess
import sys

from vbench.errors import ExitStatus


def _vbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vbench", *args], capture_output=True, text=True, timeout=120)


def test_list_optimizations_shows_precision_devices_and_description():
    result = _vbench("list", "optimizations")
    assert result.returncode == 0
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert {"eager", "amp_fp16", "amp_bf16", "channels_last", "compile", "torchscript", "fp16", "bf16"} <= set(lines)
    assert "cuda" in lines["tf32"] and "cpu" not in lines["tf32"].split()[2]


def test_list_models_filters_timm_names():
    result = _vbench("list", "models", "deit_small*")
    assert result.returncode == 0
    assert "deit_small_patch16_224" in result.stdout.split()
    assert all(name.startswith("deit_small") for name in result.stdout.split())


def test_list_profiles():
    result = _vbench("list", "profiles")
    assert result.returncode == 0
    assert [line.split()[0] for line in result.stdout.splitlines() if not line.startswith(" ")] == \
        ["smoke", "standard", "full", "backends"]


def test_usage_errors_exit_2_in_one_line():
    result = _vbench("list", "things")
    assert result.returncode == 4 and "invalid choice" in result.stderr
    assert "Traceback" not in result.stderr


def test_list_into_a_closed_pipe_is_quiet():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m vbench list models | head -n 1", shell=True, capture_output=True,
                          text=True, timeout=120)
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr


def test_load_makes_a_users_registered_models_visible(tmp_path, capsys):
    from tests.conftest import USER_CONFTEST
    from vbench.cli import main

    conftest = tmp_path / "conftest.py"
    conftest.write_text(USER_CONFTEST.replace("tiny_net", "tiny_cli_net").replace("tiny_oom_net", "tiny_cli_oom_net"))
    assert main(["--load", str(conftest), "list", "models", "tiny_cli_*", "--registered"]) == 0
    assert capsys.readouterr().out.split() == ["tiny_cli_net", "tiny_cli_oom_net"]
    assert main(["--load", str(tmp_path / "nope.py"), "list", "models"]) == ExitStatus.USAGE_ERROR
    assert "--load" in capsys.readouterr().err


def test_report_of_nothing_creates_no_folder(tmp_path, capsys):
    from vbench.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == ExitStatus.USAGE_ERROR
    assert not (tmp_path / "out").exists()


def test_report_threshold_and_out_are_checked(tmp_path, capsys):
    from vbench.cli import main

    run = "fixtures/report/smoke-cpu-2026-11-22.json"
    assert main(["report", run, "--threshold", "-1", "--out", str(tmp_path / "r")]) == ExitStatus.USAGE_ERROR
    assert "--threshold must be a fraction" in capsys.readouterr().err
    (tmp_path / "afile").write_text("x")
    assert main(["report", run, "--out", str(tmp_path / "afile")]) == ExitStatus.USAGE_ERROR
    assert "is a file, not a folder" in capsys.readouterr().err


def test_compare_outputs_to_a_folder_or_unwritable_place_are_one_line(tmp_path, capsys):
    from vbench.cli import main

    golden = "fixtures/gate/baseline.json"
    assert main(["compare", golden, golden, "--json", str(tmp_path)]) == ExitStatus.USAGE_ERROR
    assert "it is a folder" in capsys.readouterr().err
    assert main(["compare", golden, golden, "--md", "/proc/version/x.md"]) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("vbench: error: cannot write /proc/version/x.md") and err.count("\n") == 1
