"""History and bisect on a real git repository of 8 commits with a planted slowdown, measured on this
CPU (minutes: the e2e lane, VBENCH_E2E=1). The planted work is several times the model's own time,
far beyond any machine noise."""

import json
import shutil

import pytest

from history_repo import CELL_ARGS, make_repo, run_session
from vbench.cli import main
from vbench.history import history_of

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(shutil.which("git") is None, reason="needs git")]

PLANTED, BROKEN = 6, 4  # c4 does not build (fixed in c5); c6 plants the slowdown


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "proj"
    return path, make_repo(path, planted=PLANTED, broken=BROKEN)


def test_history_of_real_sessions_finds_the_step_at_the_planted_commit(repo, tmp_path):
    path, shas = repo
    storage = tmp_path / "storage"
    storage.mkdir()
    for i, sha in enumerate(shas):
        if i == BROKEN:
            continue  # a commit that does not build leaves no session behind
        for repeat in range(2):
            run_session(path, sha, storage / f"{i:02d}-{repeat}.json")
    # At the gate's level (p < 0.01): real sessions on a shared CPU, and absolute time drifts.
    result = history_of([storage], alpha=0.01)
    sessions = result.history.sessions
    assert [s.commit for s in sessions] == [sha for i, sha in enumerate(shas) if i != BROKEN for _ in range(2)]
    found = {t.series.metric.name: t.steps for t in result.trends}
    at_planted = (shas[PLANTED - 1], shas[PLANTED])
    # norm_time (what the gate judges on a CPU): the planted step and nothing else
    (step,) = found["norm_time"]
    assert (sessions[step.before].commit, sessions[step.after].commit) == at_planted
    assert step.size > 1.0  # the planted work more than doubles the time
    # latency_median (absolute time, reported on a CPU): the planted step too; the shared host's own
    # drift may add a small real step in unchanged code (a fresh-clone CI run: +11.6% at p = 0.002)
    planted = [s for s in found["latency_median"] if (sessions[s.before].commit, sessions[s.after].commit) == at_planted]
    assert len(planted) == 1 and planted[0].size > 1.0, found["latency_median"]
    assert all(abs(s.size) < 0.5 for s in found["latency_median"] if s not in planted), found["latency_median"]
    # the gate's baseline on norm_time (gated on a CPU) is the sessions after the step
    norm = next(t for t in result.trends if t.series.metric.name == "norm_time")
    assert norm.window and all(sessions[i].commit in shas[PLANTED:] for i in norm.window)


def test_bisect_names_the_planted_commit_and_skips_the_one_that_does_not_build(repo, tmp_path, monkeypatch, capsys):
    path, shas = repo
    monkeypatch.chdir(path)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "bisect.json"
    status = main(["bisect", shas[0], shas[-1], "--json", str(out), "--", *CELL_ARGS])
    printed = capsys.readouterr().out
    assert status == 0, printed
    assert f"vbench bisect: first bad commit: {shas[PLANTED]} 'c{PLANTED} plants the slowdown'" in printed
    data = json.loads(out.read_text())
    outcomes = {s["commit"]: s["outcome"] for s in data["steps"]}
    assert outcomes[shas[-1]] == "bad" and outcomes[shas[PLANTED]] == "bad"
    assert outcomes[shas[BROKEN]] == "skipped" and outcomes[shas[PLANTED - 1]] == "good"
    assert f"{shas[BROKEN][:10]} 'c{BROKEN}': skipped; does not build or run: pytest in B" in printed
    worktrees = subprocess_lines(path)
    assert len(worktrees) == 1  # every temporary worktree removed


def subprocess_lines(path):
    import subprocess

    return subprocess.run(["git", "-C", str(path), "worktree", "list"], capture_output=True, text=True).stdout.splitlines()
