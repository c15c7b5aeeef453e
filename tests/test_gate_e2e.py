"""The gate end to end, as a user runs it: `pytest bench` of this repository, K stored sessions,
then an unchanged session that passes and a session with real extra work in ResNet that fails.

Whole processes (minutes on 2 cores): marked e2e, run by CI's e2e lane with VBENCH_E2E=1.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CELLS = ["--vb-models", "resnet18", "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-img-sizes",
         "64", "--vb-modes", "inference"]

pytestmark = pytest.mark.e2e


def pytest_bench(storage: Path, *args: str, inject: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["HF_HUB_OFFLINE"] = "1"
    if inject:
        env["VBENCH_INJECT"] = inject
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "study"), env.get("PYTHONPATH", "")])
        args = ("-p", "inject_slowdown", *args)
    cmd = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", *CELLS,
           f"--benchmark-storage=file://{storage}", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def test_stored_sessions_pass_an_unchanged_run_and_fail_injected_work(tmp_path):
    storage = tmp_path / "storage"
    for _ in range(3):
        saved = pytest_bench(storage, "--benchmark-autosave")
        assert saved.returncode == 0, saved.stdout[-2000:]
    unchanged = pytest_bench(storage, "--benchmark-compare", "--vb-baseline-runs", "3",
                             f"--vb-verdict-json={tmp_path / 'aa.json'}")
    assert unchanged.returncode == 0, unchanged.stdout[-3000:]
    aa = json.loads((tmp_path / "aa.json").read_text())
    assert aa["baseline_sessions"] == 3 and aa["counts"]["regressed"] == 0 and aa["checks"] >= 2
    slower = pytest_bench(storage, "--benchmark-compare", "--vb-baseline-runs", "3",
                          f"--vb-verdict-json={tmp_path / 'slow.json'}", inject="resnet:all_x4")
    assert slower.returncode == 1, slower.stdout[-3000:]
    verdicts = json.loads((tmp_path / "slow.json").read_text())
    regressed = {(r["cell"], r["metric"]) for r in verdicts["rows"] if r["verdict"] == "regressed"}
    assert {("inference resnet18-eager-bs1-64px", "norm_time"),
            ("inference resnet18-channels_last-bs1-64px", "norm_time")} <= regressed
    # a regression is called on all the planned fresh sessions (8 by default), never on fewer
    assert all(r["confirm"] == 8 for r in verdicts["rows"] if r["verdict"] == "regressed" and r["metric"] == "norm_time")
    assert "vbench gate: FAILED" in slower.stdout
