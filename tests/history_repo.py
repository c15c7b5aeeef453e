"""A real git repository of 8 commits of a tiny benchmarked project, one of which plants a slowdown
(real extra work in the model's forward, several times the model's own time), for the history and
bisect end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gate_helpers import PROJECT

__all__ = ["COMMITS", "SLOW_FORWARD", "BROKEN", "make_repo", "CELL_ARGS", "run_session"]

COMMITS = 8
# The planted work: matrix products that do not change the output, in the timed forward.
SLOW_FORWARD = '''
    def forward(self, x):
        w = torch.ones(96, 96) / 96
        y = torch.ones(96, 96)
        for _ in range(40):
            y = y @ w
        return self.head(torch.relu(self.conv(x)).mean((2, 3))) + 0 * y.sum()
'''
BROKEN = "raise ImportError('this commit does not build')\n"
CELL_ARGS = ["test_cells.py", "-q", "-p", "no:cacheprovider", "--vb-models", "tiny_net", "--vb-opts", "eager",
             "--vb-batch-sizes", "1", "--vb-img-sizes", "32"]


def _git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    if when:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def make_repo(repo: Path, *, planted: int = 5, broken: int | None = None) -> list[str]:
    """Commits c0..c7 (an hour apart, so commit time orders them): c0 the tiny project, each later
    one a change to a README, ``planted`` adding the slow forward (kept from then on), ``broken`` a
    conftest that fails to import (fixed by the next commit). Returns the commit ids, oldest first."""
    repo.mkdir(parents=True)
    conftest = (PROJECT / "conftest.py").read_text()
    slow = conftest.replace("    def forward(self, x):\n        return self.head(torch.relu(self.conv(x)).mean((2, 3)))\n",
                            SLOW_FORWARD)
    assert slow != conftest
    (repo / "test_cells.py").write_text((PROJECT / "test_cells.py").read_text())
    _git(repo, "init", "-q", "-b", "main")
    shas = []
    for i in range(COMMITS):
        text = slow if i >= planted else conftest
        (repo / "conftest.py").write_text(BROKEN + text if i == broken else text)
        (repo / "README").write_text(f"change {i}\n")
        _git(repo, "add", ".")
        _git(repo, "commit", "-qm", f"c{i}" + (" plants the slowdown" if i == planted else ""),
             when=f"2026-01-01T{i:02d}:00:00+00:00")
        shas.append(_git(repo, "rev-parse", "HEAD"))
    return shas


def run_session(repo: Path, sha: str, out: Path) -> Path:
    """One real benchmark session of commit ``sha`` (checked out in ``repo``), saved as ``out`` with
    pytest-benchmark's git info of that commit."""
    _git(repo, "checkout", "-q", sha)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    proc = subprocess.run([sys.executable, "-m", "pytest", *CELL_ARGS, "--benchmark-min-rounds=15",
                           "--benchmark-max-time=0.05", f"--benchmark-json={out}"], cwd=repo, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out
