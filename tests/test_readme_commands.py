"""The README's commands, run as written against this repository's bench/ (with a tiny selection of
cells where the README allows one, and files under a temporary folder), each checked for what the
README says it prints or writes. Whole processes: marked e2e, run by CI's e2e lane (VBENCH_E2E=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--vb-models", "resnet18", "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-img-sizes",
        "32", "--vb-modes", "inference", "--benchmark-max-time=0.05", "-p", "no:cacheprovider"]

pytestmark = pytest.mark.e2e


def sh(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run a command as a user would in a shell (console scripts from this environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["HF_HUB_OFFLINE"] = "1"
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """The quick start: `pytest bench --benchmark-autosave` twice into one storage folder."""
    storage = tmp_path_factory.mktemp("storage")
    for _ in range(2):
        run = sh("pytest", "bench", *TINY, "--benchmark-autosave", f"--benchmark-storage=file://{storage}")
        assert run.returncode == 0, run.stdout[-2000:]
    return storage


def test_quick_start_autosave_then_compare(stored):
    (folder,) = [p for p in stored.iterdir() if p.is_dir()]
    assert folder.name.endswith("torch" + __import__("torch").__version__.split("+")[0])  # the hardware key
    assert len(list(folder.glob("000[12]_*.json"))) == 2
    run = sh("pytest", "bench", *TINY, "--benchmark-compare", f"--benchmark-storage=file://{stored}")
    assert run.returncode == 0, run.stdout[-3000:]
    for text in ("vbench gate", "only 2 of 10 baseline sessions stored", "gated checks", "vbench gate: 0 regressed",
                 "vbench summary", "harness overhead"):
        assert text in run.stdout, text


def test_vbench_compare_offline(stored):
    s1, s2 = sorted(next(p for p in stored.iterdir() if p.is_dir()).glob("*.json"))
    # Two sessions of unchanged code judged with one baseline session: the bounds are wide, yet a machine
    # loaded in between can still move a cell past them, so this checks the command, not the machine.
    run = sh("vbench", "compare", str(s1), str(s2))
    assert run.returncode in (0, 1), run.stdout + run.stderr
    assert "1 baseline session(s): the bounds are wide" in run.stdout and "vbench gate: " in run.stdout
    same = sh("vbench", "compare", str(s2), str(s2))  # a session against itself: nothing moved at all
    assert same.returncode == 0 and "vbench gate: 0 regressed" in same.stdout, same.stdout + same.stderr


def test_xdist_two_workers_write_one_merged_json(tmp_path):
    collected = sh("pytest", "bench", *TINY, "--collect-only", "-q")
    cells = {line.split("[", 1)[1].rstrip("]") for line in collected.stdout.splitlines() if "::test_inference[" in line}
    out = tmp_path / "run.json"
    run = sh("pytest", "bench", "-n", "2", f"--benchmark-json={out}", *TINY)
    assert run.returncode == 0, run.stdout[-2000:]
    params = [b["param"] for b in json.loads(out.read_text())["benchmarks"]]
    assert sorted(params) == sorted(cells) and len(cells) == 2


def test_report_and_pytest_benchmark_histograms(tmp_path):
    run_json = tmp_path / "out" / "run.json"
    run = sh("pytest", "bench", f"--benchmark-json={run_json}", *TINY)
    assert run.returncode == 0, run.stdout[-2000:]
    report = sh("vbench", "report", str(run_json), "--out", str(tmp_path / "out" / "report"))
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("2 cells on 1 hardware key(s) from 1 run(s)")
    for name in ("cells.csv", "summary.md", "report.html"):
        assert (tmp_path / "out" / "report" / name).stat().st_size > 0
    hist = sh("pytest-benchmark", "compare", str(run_json), f"--histogram={tmp_path / 'out' / 'hist'}")
    assert hist.returncode == 0, hist.stderr
    assert list((tmp_path / "out").glob("hist*.svg"))


def test_viz_doctor_and_list(tmp_path):
    viz = sh("vbench", "viz", "resnet18", "--img-size", "64", "--out", str(tmp_path / "r18.html"))
    assert viz.returncode == 0 and viz.stdout.startswith(f"wrote {tmp_path / 'r18.html'}: ")
    assert "<html" in (tmp_path / "r18.html").read_text()[:500].lower()
    doctor = sh("vbench", "doctor")
    assert doctor.returncode == 0 and "threads" in doctor.stdout
    models = sh("vbench", "list", "models", "resnet1*")
    assert "resnet18" in models.stdout.split()
    opts = sh("vbench", "list", "optimizations")
    assert opts.stdout.split()[0] and "channels_last" in opts.stdout and "lora_r<N>" in opts.stdout
    profiles = sh("vbench", "list", "profiles")
    assert profiles.stdout.startswith("smoke") and "standard" in profiles.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_ab_two_revisions_of_a_scratch_clone(tmp_path):
    clone = tmp_path / "clone"
    assert sh("git", "clone", "-q", "--local", str(ROOT), str(clone)).returncode == 0
    (clone / "NOTE").write_text("B\n")
    for args in (("add", "NOTE"), ("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "B")):
        assert sh("git", *args, cwd=clone).returncode == 0
    run = sh("vbench", "ab", "HEAD~1", "HEAD", "--repeats", "1", "--rounds", "5", "--", "bench", *TINY, cwd=clone)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "speedup B/A inference resnet18-eager-bs1-32px:" in run.stdout
    assert "A/B: 1 session pair(s), 5 rounds per cell and session" in run.stdout
