"""``vbench ab``: two revisions of a tiny git project, checked out in worktrees and run interleaved."""

import json
import shutil
import subprocess

import pytest

from gate_helpers import PROJECT
from vbench.cli import main
from vbench.errors import ExitStatus

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


def test_ab_runs_both_revisions_round_by_round_and_prints_speedup(repo, tmp_path, capsys, monkeypatch):
    import tempfile

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where vbench ab makes its temporary folder
    keep = tmp_path / "json"
    status = main(["ab", "rev-a", "main", "--repeats", "1", "--rounds", "7", "--keep-json", str(keep),
                   "--fail-on", "time:off,tail:off,relative:off,rss:off,cold_start:off,memory:off", "--",
                   "test_cells.py", "-q", "--vb-models", "tiny_net", "--vb-opts", "eager,channels_last",
                   "--vb-batch-sizes", "1", "--vb-img-sizes", "32"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert "session pair 1/1" in captured.err
    assert sorted(p.name for p in keep.iterdir()) == ["A-1.json", "A-1.log", "B-1.json", "B-1.log"]
    for side in "AB":
        cells = json.loads((keep / f"{side}-1.json").read_text())["benchmarks"]
        assert [len(c["stats"]["data"]) for c in cells] == [7, 7]  # --rounds, one call per round
    assert "speedup B/A inference tiny_net-eager-bs1-32px:" in captured.out
    # 2 cells x 7 rounds x 2 sides, every one next to the other side's round of the same cell; and
    # each side's cold start of each cell took a turn of its own.
    assert "A/B: 1 session pair(s), 7 rounds per cell and session, taken in turns (A B A B ...): 32 rounds paired" in captured.out
    worktrees = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True).stdout
    assert worktrees.count("\n") == 1  # the temporary worktrees are gone
    assert list(scratch.iterdir()) == []  # and so is the temporary folder


def test_ab_unknown_revision_is_one_line_error(repo, capsys):
    assert main(["ab", "no-such-rev", "main", "--", "test_cells.py"]) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("vbench: error: git rev-parse") and err.count("\n") == 1
