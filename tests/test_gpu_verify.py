"""The GPU verification script's dry run on this CPU: every step runs or says why it cannot, and the
summary files are written (the real run needs a GPU machine)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def test_dry_run_covers_every_step(tmp_path):
    proc = subprocess.run([sys.executable, "bench/gpu/verify.py", "--dry-run", "--out", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    summary = json.loads((tmp_path / "verify.json").read_text())
    steps = summary["steps"]
    assert proc.returncode == 0, json.dumps(steps, indent=1)[-3000:]
    assert set(steps) == {"environment", "timer_against_cuda_events", "optimizations_memory_mfu_telemetry",
                          "onnxruntime_cuda_provider", "gate_aa_and_injected_slowdown", "one_worker_per_gpu",
                          "tensorrt_skip_reason"}
    assert steps["timer_against_cuda_events"]["status"] == "skipped"
    assert steps["gate_aa_and_injected_slowdown"]["status"] == "ok"
    assert steps["one_worker_per_gpu"]["refused_on_cpu"] is True
    assert steps["tensorrt_skip_reason"]["skipped"]  # the reason, in one line
    assert (tmp_path / "verify.md").read_text().startswith("# vbench GPU verification (dry run on CPU)")
