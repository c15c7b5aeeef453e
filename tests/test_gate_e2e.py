"""The gate end to end, as a user runs it: `pytest bench` in a git repository holding this checkout's
bench/, vbench/ and configuration (committed, like a user's main branch), K stored sessions, then an
unchanged session that passes, and sessions with real extra work in ResNet that fail: a change in
the working tree (confirmed in A/B pairs against the baseline's commit) and the same work injected
with the A/B pairs off (confirmed in fresh sessions against the stored ones).

Whole processes (minutes on 2 cores): marked e2e, run by CI's e2e lane with VBENCH_E2E=1.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CELLS = ["--vb-models", "resnet18", "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-img-sizes",
         "64", "--vb-modes", "inference"]
REGRESSED = {("inference resnet18-eager-bs1-64px", "norm_time"), ("inference resnet18-channels_last-bs1-64px", "norm_time")}
# A change in the working tree: every ResNet forward runs the network four more times, output unchanged.
IN_TREE_CHANGE = """import pathlib, sys
sys.path.insert(0, str(pathlib.Path(__file__).parent / "study"))
from inject_slowdown import install
install("resnet", "all_x4")
"""

pytestmark = pytest.mark.e2e


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def user_repository(dest: Path) -> Path:
    """A fresh git repository with this checkout's files (committed or not) of bench/, vbench/ and the
    top-level configuration, committed once."""
    listed = git(ROOT, "ls-files", "-co", "--exclude-standard").splitlines()
    for name in listed:
        if name.split("/")[0] in ("bench", "vbench", "conftest.py", "pyproject.toml") and (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "-c", "user.name=vbench", "-c", "user.email=vbench@localhost", "commit", "-qm", "base")
    return dest


def pytest_bench(repo: Path, storage: Path, *args: str, inject: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env["HF_HUB_OFFLINE"] = "1"
    if inject:  # extra work loaded by a plugin in every process of the run, from the environment
        env["VBENCH_INJECT"] = inject
        env["PYTHONPATH"] = os.pathsep.join([str(repo / "bench" / "study"), env.get("PYTHONPATH", "")])
        args = ("-p", "inject_slowdown", *args)
    cmd = [sys.executable, "-m", "pytest", "bench", "-p", "no:cacheprovider", *CELLS,
           f"--benchmark-storage=file://{storage}", *args]
    return subprocess.run(cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1200)


def verdicts_of(path: Path) -> tuple[dict, set]:
    verdicts = json.loads(path.read_text())
    return verdicts, {(r["cell"], r["metric"]) for r in verdicts["rows"] if r["verdict"] == "regressed"}


def test_stored_sessions_pass_an_unchanged_run_and_fail_injected_work(tmp_path):
    repo = user_repository(tmp_path / "repo")
    storage = tmp_path / "storage"
    for _ in range(3):
        saved = pytest_bench(repo, storage, "--benchmark-autosave")
        assert saved.returncode == 0, saved.stdout[-2000:]
    stored = {p: p.read_bytes() for p in storage.rglob("*.json")}
    compare = ("--benchmark-compare", "--vb-baseline-runs", "3")

    unchanged = pytest_bench(repo, storage, *compare, f"--vb-verdict-json={tmp_path / 'aa.json'}")
    assert unchanged.returncode == 0, unchanged.stdout[-3000:]
    aa, regressed = verdicts_of(tmp_path / "aa.json")
    assert aa["baseline_sessions"] == 3 and aa["counts"]["regressed"] == 0 and aa["checks"] >= 2 and not regressed

    # A change in the working tree: A/B pairs against the stored sessions' commit confirm it.
    (repo / "bench" / "conftest.py").write_text(IN_TREE_CHANGE)
    slower = pytest_bench(repo, storage, *compare, f"--vb-verdict-json={tmp_path / 'slow.json'}")
    (repo / "bench" / "conftest.py").unlink()
    assert slower.returncode == 1, slower.stdout[-3000:]
    verdicts, regressed = verdicts_of(tmp_path / "slow.json")
    assert REGRESSED <= regressed
    commit = git(repo, "rev-parse", "HEAD").strip()
    for row in verdicts["rows"]:
        if (row["cell"], row["metric"]) in REGRESSED:
            # five times the work: called at the half-way look, 4 of the 8 planned pairs (--vb-confirm-sessions)
            assert row["confirm"] == 4 and f"4 A/B pair(s) against {commit[:10]}" in row["note"], row
    assert verdicts["pair_checks"] >= 2 and verdicts["per_pair_check_level"] == pytest.approx(0.005 / verdicts["pair_checks"])
    assert "vbench gate: FAILED" in slower.stdout
    assert git(repo, "worktree", "list").count("\n") == 1  # the baseline commit's worktree is gone

    # The same work through the environment reaches both sides of a pair, so it is checked with
    # the pairs off: fresh sessions judged against the stored ones, a regression on all 8 of them.
    fresh = pytest_bench(repo, storage, *compare, "--vb-confirm-ab", "off",
                         f"--vb-verdict-json={tmp_path / 'fresh.json'}", inject="resnet:all_x4")
    assert fresh.returncode == 1, fresh.stdout[-3000:]
    verdicts, regressed = verdicts_of(tmp_path / "fresh.json")
    assert REGRESSED <= regressed and verdicts["pair_checks"] == 0
    assert all(r["confirm"] == 8 for r in verdicts["rows"] if r["verdict"] == "regressed" and r["metric"] == "norm_time")
    assert {p: p.read_bytes() for p in storage.rglob("*.json")} == stored  # no stored session was touched
