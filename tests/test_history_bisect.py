"""``vbench bisect`` input checks in one line (the search itself runs in tests/test_history_e2e.py)."""

import shutil

import pytest

from history_repo import make_repo
from vbench.cli import main
from vbench.errors import ExitStatus
from vbench.history.bisect import commits_between

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("bisect") / "proj"
    return path, make_repo(path)


def test_the_commits_between_are_first_parent_oldest_first(repo):
    path, shas = repo
    good, bad, commits = commits_between(path, shas[0], "main")
    assert (good, bad) == (shas[0], shas[-1])
    assert [c for c, _ in commits] == shas[1:] and commits[4][1] == "c5 plants the slowdown"


@pytest.mark.parametrize("args, message", [
    (["no-such-rev", "main"], "vbench: error: 'no-such-rev' is not a commit in "),
    (["main", "main"], "vbench: error: GOOD main and BAD main are the same commit: nothing to bisect"),
    (["main", "HEAD~3"], "vbench: error: GOOD main is not an ancestor of BAD HEAD~3: nothing to bisect"),
    (["HEAD~3", "main", "--pairs", "4", "--max-pairs", "2"], "vbench: error: --pairs and --rounds must be >= 1"),
])
def test_bad_input_is_one_line(repo, monkeypatch, capsys, args, message):
    monkeypatch.chdir(repo[0])
    assert main(["bisect", *args, "--", "test_cells.py"]) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_outside_a_git_repository_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert main(["bisect", "a", "b"]) == ExitStatus.USAGE_ERROR
    assert capsys.readouterr().err.endswith("is not in a git repository\n")
