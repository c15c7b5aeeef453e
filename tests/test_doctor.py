"""vbench doctor: the pure checks with given inputs, and the real command on this CPU machine."""

from __future__ import annotations

import json
import subprocess
import sys

from vbench.tools.doctor import cuda_driver_checks, governor_checks, load_checks, memory_checks, thread_checks


def test_governor_other_than_performance_warns():
    assert governor_checks({"cpu0": "performance", "cpu1": "performance"})[0].status == "ok"
    check = governor_checks({"cpu0": "powersave", "cpu1": "performance"})[0]
    assert check.status == "warn" and "powersave on 1/2 CPUs" in check.message
    assert governor_checks({})[0].status == "info"


def test_threads_oversubscribed_warns():
    assert thread_checks(4, 2, None)[0].status == "warn"
    assert thread_checks(2, 2, "2")[0].status == "ok"
    assert thread_checks(1, 2, None)[0].status == "ok"
    busy = thread_checks(1, 2, None, load1=4.4)  # vbench doctor said [ok] at load 4.4
    assert busy[0].status == "warn" and "load 4.4 already running" in busy[0].message


def test_torch_cuda_newer_than_the_driver_warns():
    assert cuda_driver_checks("12.8", 12080, "570.1")[0].status == "ok"
    check = cuda_driver_checks("12.8", 12040, "550.5")[0]
    assert check.status == "warn" and "supports up to 12.4" in check.message
    assert cuda_driver_checks(None, None, None)[0].status == "info"
    assert cuda_driver_checks("12.8", None, None)[0].status == "warn"


def test_memory_and_load():
    assert memory_checks(1000)[0].status == "warn" and memory_checks(10_000)[0].status == "ok"
    assert load_checks(3.0, 2)[0].status == "warn" and load_checks(0.1, 2)[0].status == "ok"


def test_doctor_command_exits_0_with_warnings_on_this_cpu():
    result = subprocess.run([sys.executable, "-m", "vbench", "doctor"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("[warn] gpu") and "no CUDA GPU" in line for line in lines)
    assert any(" threads " in line for line in lines) and any("cpu_governor" in line for line in lines)
    assert lines[-1].endswith("vbench doctor changes nothing on this machine")
    as_json = subprocess.run([sys.executable, "-m", "vbench", "doctor", "--json"], capture_output=True, text=True,
                             timeout=120)
    names = {c["name"] for c in json.loads(as_json.stdout)}
    assert {"gpu", "cuda", "cpu_governor", "threads", "host_memory", "load"} <= names
