"""``vbench compare``: same verdicts and exit statuses as the gate, one-line errors, no traceback."""

import json

import pytest

from gate_helpers import GOLDEN
from vbench.cli import main


def test_compare_regression_exits_1_and_writes_md_json(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md, js = tmp_path / "v.md", tmp_path / "v.json"
    status = main(["compare", str(GOLDEN / "baseline.json"), str(GOLDEN / "current.json"), "--md", str(md),
                   "--json", str(js)])
    out = capsys.readouterr().out
    assert status == 1
    assert "vbench gate: 5 regressed" in out
    assert md.read_text().startswith("### vbench gate: FAILED")
    assert json.loads(js.read_text())["exit_status"] == 1
    assert "### vbench gate" in summary.read_text()


def test_compare_pass_exits_0(capsys):
    assert main(["compare", str(GOLDEN / "baseline.json"), str(GOLDEN / "baseline.json")]) == 0
    assert "0 regressed" in capsys.readouterr().out


@pytest.mark.parametrize("baseline, message", [
    ("truncated.json", "not valid JSON"),
    ("not_benchmark.json", "not pytest-benchmark JSON"),
    ("no_samples.json", "no raw per-round samples"),
    ("foreign.json", "refusing to compare"),
    ("missing.json", "does not exist"),
])
def test_compare_bad_input_exits_2_in_one_line(baseline, message, capsys):
    status = main(["compare", str(GOLDEN / baseline), str(GOLDEN / "baseline.json")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_compare_foreign_allowed(capsys):
    status = main(["compare", str(GOLDEN / "foreign.json"), str(GOLDEN / "baseline.json"),
                   "--allow-foreign-baseline"])
    assert status == 0
    assert "cross-hardware" in capsys.readouterr().out


def test_several_baselines_are_pooled_and_their_spread_widens_the_time_tolerance(tmp_path, capsys):
    from gate_helpers import local_baseline

    steady = local_baseline(tmp_path / "a1.json", scale=1.0)
    drifted = local_baseline(tmp_path / "a2.json", scale=1.15)  # the same code, a session 15% slower
    current = local_baseline(tmp_path / "cur.json", scale=1.10)
    args = ["--fail-on", "time:5%,tail:5%,relative:off,memory:off,rss:off,cold_start:off", "--json"]
    assert main(["compare", str(steady), str(current), *args, str(tmp_path / "one.json")]) == 1
    assert main(["compare", str(steady), str(drifted), str(current), *args, str(tmp_path / "two.json")]) == 0
    capsys.readouterr()
    one = json.loads((tmp_path / "one.json").read_text())
    two = json.loads((tmp_path / "two.json").read_text())
    cell = "tiny_net-eager-bs1-32px"
    (row_one,) = [r for r in one["rows"] if r["cell"] == cell and r["metric"] == "latency_median"]
    (row_two,) = [r for r in two["rows"] if r["cell"] == cell and r["metric"] == "latency_median"]
    assert row_one["verdict"] == "regressed" and row_one["tolerance"] == 0.05
    assert row_two["verdict"] == "unchanged"
    assert row_two["tolerance"] == pytest.approx(0.15, abs=1e-6)
    assert "tolerance widened to the spread of 2 baseline sessions" in row_two["note"]
    assert two["baseline"] == "2 baseline runs"


def test_several_baselines_one_foreign_is_refused(tmp_path, capsys):
    from gate_helpers import local_baseline

    ours = local_baseline(tmp_path / "a1.json")
    status = main(["compare", str(ours), str(GOLDEN / "foreign.json"), str(ours)])
    err = capsys.readouterr().err
    assert status == 2 and "refusing to compare" in err and err.count("\n") == 1
