"""Ctrl-C as a terminal sends it: a real SIGINT to the whole process group of a real ``pytest`` run,
at several moments of the run. Whatever the moment: exit status 2, every finished cell saved, the run
marked incomplete, no half-written file.

The project's conftest holds the run still at the named moment (it writes a marker file, then sleeps)
so that the signal lands there and not a little before or after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gate_helpers import PROJECT, local_baseline, local_key

PAUSING_CONFTEST = '''
import os, time
from pathlib import Path

import pytest

MARK = Path(os.environ["VB_TEST_MARK"])
MOMENT = os.environ["VB_TEST_MOMENT"]
CHILD = bool(os.environ.get("VBENCH_ONLY_CELLS"))  # a fresh-process confirmation started by the gate


def _hold():
    MARK.write_text(str(os.getpid()))
    time.sleep(120)


def pytest_collection_finish(session):
    if MOMENT == "before-first-cell" and not CHILD:
        _hold()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    if MOMENT == "second-cell" and not CHILD and item.name.endswith("bs2-32px]"):
        _hold()
    if MOMENT == "confirmation" and CHILD:
        _hold()
    return (yield)
'''

ARGS = ["-p", "no:cacheprovider", "--vb-models", "tiny_net", "--vb-img-sizes", "32", "--vb-opts", "eager",
        "--vb-batch-sizes", "1,2,4", "--benchmark-max-time", "0.002", "--benchmark-min-rounds", "8",
        "--benchmark-json", "out.json", "--benchmark-autosave"]


def _project(tmp_path: Path) -> Path:
    (tmp_path / "conftest.py").write_text((PROJECT / "conftest.py").read_text() + PAUSING_CONFTEST)
    (tmp_path / "test_cells.py").write_text((PROJECT / "test_cells.py").read_text())
    return tmp_path


def _interrupt_at(root: Path, moment: str, *extra: str) -> subprocess.CompletedProcess:
    """Run pytest in ``root``, wait until it holds at ``moment``, then Ctrl-C its process group."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.update(VB_TEST_MARK=str(root / "mark"), VB_TEST_MOMENT=moment, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *ARGS, *extra], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (root / "mark").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached {moment!r}:\n{proc.communicate()[0][-3000:]}")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)  # the terminal's Ctrl-C: every process of the foreground group
    out, _ = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def _stored(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / ".benchmarks").glob("*/*.json"))]


def _no_half_written_files(root: Path) -> None:
    assert not [p for p in root.rglob("*") if p.name.endswith(".tmp")]
    for path in [root / "out.json", *(root / ".benchmarks").glob("*/*.json")]:
        if path.exists():
            json.loads(path.read_text())  # whole JSON, or no file


def test_ctrl_c_before_the_first_cell_saves_nothing_and_exits_2(tmp_path):
    root = _project(tmp_path)
    result = _interrupt_at(root, "before-first-cell")
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.stdout[-2000:]
    assert not (root / "out.json").exists() and _stored(root) == []
    _no_half_written_files(root)


def test_ctrl_c_during_a_cell_keeps_the_finished_cells_marked_incomplete(tmp_path):
    root = _project(tmp_path)
    result = _interrupt_at(root, "second-cell")
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.stdout[-2000:]
    saved = json.loads((root / "out.json").read_text())
    assert [b["param"] for b in saved["benchmarks"]] == ["tiny_net-eager-bs1-32px"]  # the cell finished first
    assert saved["vbench"]["complete"] is False
    [stored] = _stored(root)
    assert stored["vbench"]["complete"] is False  # never picked as a baseline
    _no_half_written_files(root)


def test_ctrl_c_during_the_gates_fresh_confirmation_keeps_every_cell(tmp_path):
    root = _project(tmp_path)
    store = root / ".benchmarks" / local_key()
    store.mkdir(parents=True)
    for i in range(3):  # stored sessions 1000x faster than this machine: every cell is a suspect
        local_baseline(store / f"{i + 1:04d}_fast.json", scale=1e-3 * (1 + i / 100))
    result = _interrupt_at(root, "confirmation", "--benchmark-compare", "--vb-fail-on", "time:5%",
                           "--vb-verdict-json", "v.json")
    assert result.returncode == pytest.ExitCode.INTERRUPTED, result.stdout[-2000:]
    saved = json.loads((root / "out.json").read_text())
    assert len(saved["benchmarks"]) == 3 and saved["vbench"]["complete"] is False
    assert any("interrupted while re-measuring" in note for note in saved["vbench_gate"]["notes"])
    assert json.loads((root / "v.json").read_text())["counts"]  # the verdicts were written too
    assert len(list(store.glob("0004_*.json"))) == 1  # and the autosave
    assert "Traceback" not in result.stdout
    _no_half_written_files(root)
