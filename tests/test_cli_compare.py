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
