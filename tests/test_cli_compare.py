"""``vbench compare``: same verdicts and exit statuses as the gate, one-line errors, no traceback."""

import json

import pytest

from gate_helpers import GOLDEN

BASELINES = [str(GOLDEN / n) for n in ("baseline.json", "session-2.json", "session-3.json")]
from vbench.cli import main
from vbench.errors import ExitStatus


def test_compare_regression_exits_1_and_writes_md_json(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md, js = tmp_path / "v.md", tmp_path / "v.json"
    status = main(["compare", *BASELINES, str(GOLDEN / "current.json"), "--fail-on", "time:5%,cold_start:25%", "--md", str(md),
                   "--json", str(js)])
    out = capsys.readouterr().out
    assert status == 1
    assert "vbench gate: 4 regressed, 1 inconclusive" in out
    assert md.read_text().startswith("### vbench gate: FAILED")
    assert json.loads(js.read_text())["exit_status"] == 1
    assert "### vbench gate" in summary.read_text()


def test_compare_pass_exits_0(capsys):
    assert main(["compare", *BASELINES[:2], BASELINES[2], "--fail-on", "time:5%"]) == 0
    assert "0 regressed" in capsys.readouterr().out


def test_inconclusive_fails_only_when_asked(tmp_path, capsys):
    data = json.loads((GOLDEN / "current.json").read_text())
    data["benchmarks"] = [b for b in data["benchmarks"] if b["param"] == "tiny_net-bf16-bs1-32px"]  # +7%
    current = tmp_path / "cur.json"
    current.write_text(json.dumps(data))
    args = ["compare", *BASELINES, str(current), "--fail-on", "time:5%,rss:off,relative:off,cold_start:off",
            "--alpha", "0.0001"]
    assert main(args) == 0
    assert "0 regressed, 1 inconclusive" in capsys.readouterr().out
    assert main([*args, "--fail-on-inconclusive"]) == 1
    capsys.readouterr()


def test_one_baseline_session_says_the_bounds_are_wide(capsys):
    assert main(["compare", BASELINES[0], BASELINES[1], "--fail-on", "time:5%"]) == 0
    assert "1 baseline session(s): the bounds are wide" in capsys.readouterr().out


@pytest.mark.parametrize("baseline, message", [
    ("truncated.json", "not valid JSON"),
    ("not_benchmark.json", "not pytest-benchmark JSON"),
    ("no_samples.json", "no raw per-round samples"),
    ("foreign.json", "refusing to compare"),
    ("missing.json", "does not exist"),
])
def test_compare_bad_input_exits_4_in_one_line(baseline, message, capsys):
    status = main(["compare", str(GOLDEN / baseline), str(GOLDEN / "baseline.json")])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE_ERROR
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_compare_foreign_allowed(capsys):
    status = main(["compare", str(GOLDEN / "foreign.json"), str(GOLDEN / "baseline.json"),
                   "--allow-foreign-baseline"])
    assert status == 0
    assert "cross-hardware" in capsys.readouterr().out


def test_several_baselines_one_foreign_is_refused(tmp_path, capsys):
    from gate_helpers import local_baseline

    ours = local_baseline(tmp_path / "a1.json")
    status = main(["compare", str(ours), str(GOLDEN / "foreign.json"), str(ours)])
    err = capsys.readouterr().err
    assert status == ExitStatus.USAGE_ERROR and "refusing to compare" in err and err.count("\n") == 1
