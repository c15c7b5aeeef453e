"""The gate inside a real pytest session judges each cell against the stored sessions after its last
accepted step (a step in peak RSS stored on main: the history moves the baseline by itself)."""

import json

import pytest

from gate_helpers import CELL_ARGS, local_baseline, local_key

ONLY_RSS = "time:off,tail:off,relative:off,rss:10%,cold_start:off,memory:off"


@pytest.fixture
def project(gate_project):
    return gate_project


def store_history(root, old: int, new: int):
    """``old`` + ``new`` stored sessions, a commit each, an hour apart; the newest ``new`` with twice
    the peak RSS of the others (a change accepted on main)."""
    store = root / ".benchmarks" / local_key()
    store.mkdir(parents=True)
    for i in range(old + new):
        path = local_baseline(store / f"{i + 1:04d}_main.json")
        data = json.loads(path.read_text())
        data["commit_info"].update(id=f"{i:02d}" + "a" * 38, time=f"2026-01-01T{i:02d}:00:00+00:00")
        for bench in data["benchmarks"]:
            bench["extra_info"]["peak_rss_mb"] *= (0.5 if i < old else 1.0) * (1 + 0.001 * (i % 3))
        path.write_text(json.dumps(data))


def test_the_gate_takes_its_baseline_after_the_last_step_in_the_stored_history(project):
    store_history(project.path, 12, 4)
    result = project.runpytest(*CELL_ARGS, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                               "--vb-fail-on", ONLY_RSS, "--vb-verdict-json", "v.json")
    assert result.ret in (0, 1)  # this run's own RSS decides its verdict; the baseline is what is tested
    verdicts = json.loads((project.path / "v.json").read_text())
    assert any(n.startswith("history of 16 stored sessions: inference tiny_net-eager-bs1-32px peak_rss_mb: "
                            "step +100.") and "between 11aaaaaaaa and 12aaaaaaaa" in n for n in verdicts["notes"])
    (row,) = [r for r in verdicts["rows"] if r["metric"] == "peak_rss_mb"]
    assert row["sessions"] == 4 and "baseline: the 4 session(s) after a step in the history" in row["note"]


def test_a_named_run_is_judged_against_that_run_alone(project):
    store_history(project.path, 12, 4)
    result = project.runpytest(*CELL_ARGS, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare=0003",
                               "--vb-fail-on", ONLY_RSS, "--vb-verdict-json", "v.json")
    assert result.ret in (0, 1)
    verdicts = json.loads((project.path / "v.json").read_text())
    assert not any(n.startswith("history of") for n in verdicts["notes"])
