"""Runs autosaving into one storage folder at once, as four CI jobs on one runner would: every run
keeps a file of its own, whole (the race itself is forced in tests/test_benchmark_adapter.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from gate_helpers import CELL_ARGS, PROJECT


def test_four_runs_autosaving_at_once_keep_four_whole_files(tmp_path):
    (tmp_path / "conftest.py").write_text((PROJECT / "conftest.py").read_text())
    (tmp_path / "test_cells.py").write_text((PROJECT / "test_cells.py").read_text())
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", *CELL_ARGS, "--vb-opts", "eager", "--vb-batch-sizes", "1",
                              "--benchmark-autosave", "--benchmark-storage", str(tmp_path / "store")],
                             cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(4)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
    saved = sorted((tmp_path / "store").glob("*/*.json"))
    assert sorted(p.name[:4] for p in saved) == ["0001", "0002", "0003", "0004"]
    assert all(json.loads(p.read_text())["vbench"]["complete"] for p in saved)
    said = sorted(line.split("Saved benchmark data in: ")[-1].strip() for out in outputs for line in out.splitlines()
                  if "Saved benchmark data in" in line)
    assert len(said) == 4 and len(set(said)) == 4, said  # each run names the file it really wrote
