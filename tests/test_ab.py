"""``vbench ab``: two revisions of a tiny git project, checked out in worktrees and run interleaved."""

import shutil
import subprocess

import pytest

from gate_helpers import PROJECT
from vbench.cli import main

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    repo = tmp_path / "proj"
    repo.mkdir()
    shutil.copy(PROJECT / "conftest.py", repo / "conftest.py")
    shutil.copy(PROJECT / "test_cells.py", repo / "test_cells.py")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "A")
    git(repo, "tag", "rev-a")
    (repo / "README").write_text("B\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "B")
    monkeypatch.chdir(repo)
    return repo


def test_ab_runs_both_revisions_interleaved_and_prints_speedup(repo, tmp_path, capsys):
    keep = tmp_path / "json"
    status = main(["ab", "rev-a", "main", "--repeats", "1", "--keep-json", str(keep),
                   "--fail-on", "time:off,relative:off,rss:off,cold_start:off,memory:off", "--",
                   "test_cells.py", "-q", "--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "1",
                   "--vb-img-sizes", "32", "--benchmark-max-time", "0.002", "--benchmark-min-rounds", "5"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "turn 1/1 A" in captured.err and "turn 1/1 B" in captured.err
    assert sorted(p.name for p in keep.iterdir()) == ["A-1.json", "B-1.json"]
    assert "speedup B/A tiny_net-eager-bs1-32px:" in captured.out
    assert "A/B: 1 interleaved session(s) per side" in captured.out
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert worktrees.count("\n") == 1  # the temporary worktrees are gone


def test_ab_unknown_revision_is_one_line_error(repo, capsys):
    assert main(["ab", "no-such-rev", "main", "--", "test_cells.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vbench: error: git rev-parse") and err.count("\n") == 1
