"""The gate inside real pytest sessions (pytester) of a tiny registered model.

No timing assertions: verdicts that depend on time are forced by baselines whose samples are
scaled by orders of magnitude, or by turning the time categories off.
"""

import json

import numpy as np
import pytest

from gate_helpers import CELL_ARGS, GOLDEN, local_baseline, make_project
from vbench.machine import hardware_key

DETERMINISTIC = "time:off,relative:off,rss:off,cold_start:off,memory:off"


@pytest.fixture
def project(pytester, monkeypatch):
    # The inner session is no xdist worker even when this test runs in one (pytest-benchmark
    # would disable itself, and the gate with it).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    make_project(pytester)
    return pytester


def run(pytester, *args):
    return pytester.runpytest(*CELL_ARGS, *args)


def test_autosave_is_keyed_by_hardware_and_keeps_raw_samples_then_compare_passes(project):
    key = hardware_key("cpu")
    first = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave", "--benchmark-compare")
    first.assert_outcomes(passed=1)
    assert first.ret == 0
    first.stdout.fnmatch_lines([f"vbench gate: no baseline for hardware key {key} in *; nothing compared, passing; "
                                "this run was saved as the first baseline"])
    saved = list((project.path / ".benchmarks").glob("*/*.json"))
    assert [p.parent.name for p in saved] == [key]
    assert all(b["stats"]["data"] for b in json.loads(saved[0].read_text())["benchmarks"])
    before = saved[0].read_bytes()
    second = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1,2", "--benchmark-compare",
                 "--vb-fail-on", DETERMINISTIC)
    second.assert_outcomes(passed=2)
    assert second.ret == 0
    second.stdout.fnmatch_lines(["*vbench gate*", "cell*metric*baseline*current*change*noise band*verdict*",
                                 "*tiny_net-eager-bs2-32px*new*", "vbench gate: 0 regressed*"])
    assert saved[0].read_bytes() == before


def test_missing_baseline_without_saving_says_how_to_save(project):
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*no baseline for hardware key*run with --benchmark-autosave*"])


def test_regression_confirmed_fails_with_exit_1_and_writes_verdicts(project, monkeypatch):
    # The baseline claims the cell took 1/1000 of its real time: regressed, and still after confirmation.
    baseline = local_baseline(project.path / "fast_baseline.json", scale=1e-3)
    summary = project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={baseline}",
                 "--vb-verdict-md", "v.md", "--vb-verdict-json", "v.json", "--vb-confirm-rounds", "12",
                 "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs1-32px*latency_median*regressed*confirmed: *re-measure of 12*",
                                 "*tiny_net-bf16-bs2-32px*missing*",
                                 "vbench gate: FAILED, * regression(s)*exit status 1",
                                 "*1 passed*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    cell = json.loads((project.path / "out.json").read_text())["benchmarks"][0]
    assert cell["extra_info"]["gate_confirm"]["rounds"] == 12
    assert len(cell["extra_info"]["gate_confirm"]["samples_s"]) == 12
    verdicts = json.loads((project.path / "v.json").read_text())
    assert verdicts["exit_status"] == 1
    # ... and again in a fresh pytest process running only that cell (the baseline is 1000x faster).
    (median,) = [r for r in verdicts["rows"] if r["cell"] == "tiny_net-eager-bs1-32px" and r["metric"] == "latency_median"]
    assert "again in a fresh process: +" in median["note"]
    assert "time regressions re-measured in a fresh process: 1 cell(s)" in verdicts["notes"]
    assert cell["extra_info"]["gate_confirm"]["fresh"]["samples_s"]
    # The saved JSON carries both confirmations: judged offline, it gives the same verdict.
    from vbench.cli import main

    assert main(["compare", str(baseline), str(project.path / "out.json"), "--json", str(project.path / "c.json")]) == 1
    offline = json.loads((project.path / "c.json").read_text())
    (again,) = [r for r in offline["rows"] if r["cell"] == "tiny_net-eager-bs1-32px" and r["metric"] == "latency_median"]
    assert again["verdict"] == "regressed" and again["note"] == median["note"]
    assert (project.path / "v.md").read_text().startswith("### vbench gate: FAILED")
    assert "### vbench gate" in summary.read_text()
    assert not [p for p in project.path.iterdir() if p.name.endswith(".tmp")]


def test_relative_metric_is_measured_interleaved_and_judged(project):
    result = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-relative", "on",
                 "--vb-relative-pairs", "4", "--benchmark-json", "out.json")
    assert result.ret == 0
    cells = {b["param"]: b["extra_info"] for b in json.loads((project.path / "out.json").read_text())["benchmarks"]}
    assert len(cells["tiny_net-channels_last-bs1-32px"]["rel_time_samples"]) == 4
    assert "rel_time_samples" not in cells["tiny_net-eager-bs1-32px"]


def test_probe_ratio_is_measured_for_every_cell_and_a_confirmed_rise_fails(project):
    first = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-probe", "on",
                "--vb-relative-pairs", "12", "--benchmark-json", "base.json")
    assert first.ret == 0
    data = json.loads((project.path / "base.json").read_text())
    for bench in data["benchmarks"]:
        ratios = bench["extra_info"]["norm_time_samples"]
        assert len(ratios) == 12 and all(r > 0 for r in ratios)
        assert bench["extra_info"]["norm_time"] == pytest.approx(np.median(ratios))
        # The baseline claims each cell took a hundredth of the probe's share it takes now: far
        # beyond what a loaded machine does to 12 ratios (10x was not always significant under -n).
        bench["extra_info"]["norm_time_samples"] = [r / 100 for r in ratios]
    (project.path / "base.json").write_text(json.dumps(data))
    result = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-probe", "on",
                 "--vb-relative-pairs", "12", "--benchmark-compare=base.json", "--vb-confirm-rounds", "12",
                 "--vb-fail-on", "time:off,tail:off,memory:off,rss:off,cold_start:off", "--benchmark-json", "out.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*tiny_net-eager-bs1-32px*norm_time*regressed*confirmed: *re-measure of 12*"])
    out = {b["param"]: b["extra_info"] for b in json.loads((project.path / "out.json").read_text())["benchmarks"]}
    assert len(out["tiny_net-eager-bs1-32px"]["gate_confirm"]["norm_time_samples"]) == 12
    assert "samples_s" not in out["tiny_net-eager-bs1-32px"]["gate_confirm"]  # only the ratio looked regressed


def test_foreign_baseline_refused_in_one_line_unless_allowed(project):
    foreign = GOLDEN / "foreign.json"
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={foreign}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: vbench gate: baseline * hardware key nvidia-h100-80gb-hbm3-cuda12.8-torch2.14.1, "
                                 f"this run is {hardware_key('cpu')}; refusing to compare*"])
    allowed = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={foreign}",
                  "--vb-allow-foreign-baseline", "--vb-fail-on", DETERMINISTIC)
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["*tiny_net-eager-bs1-32px*cross-hardware*"])


@pytest.mark.parametrize("name, message", [
    ("truncated.json", "is not valid JSON (truncated or corrupt at line *"),
    ("not_benchmark.json", "is not pytest-benchmark JSON*"),
    ("no_samples.json", "has no raw per-round samples*"),
    ("nowhere.json", "does not exist"),
])
def test_bad_baselines_are_usage_errors_without_traceback(project, name, message):
    path = GOLDEN / name
    before = path.read_bytes() if path.exists() else None
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={path}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: vbench gate: *{name} {message}"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (path.read_bytes() if path.exists() else None) == before


def test_help_lists_the_gate_options(project):
    result = project.runpytest("--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*vbench: regression gate*", "*--vb-fail-on*", "*tolerances per category (time, tail, relative*",
                                 "*--vb-allow-foreign-baseline*"])


def test_gate_options_are_ini_settable(project):
    project.makeini("[pytest]\nvb_fail_on = time:bogus\n")
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: vbench gate: --vb-fail-on time: 'bogus' is not a percentage*"])


def test_interrupted_json_write_leaves_the_old_file_whole(project, monkeypatch):
    # pytest-benchmark's --benchmark-json writer goes through the gate's atomic write: a Ctrl-C at
    # the moment of writing keeps the previous file intact and leaves no temporary file behind.
    out = project.path / "out.json"
    out.write_text('{"previous": "run"}')

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("vbench.compare.io.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):  # raised while pytest-benchmark saves, at session end
        run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-json={out}")
    assert out.read_text() == '{"previous": "run"}'
    assert not [p for p in project.path.iterdir() if p.name.endswith(".tmp")]


def test_cell_failing_after_its_rounds_is_kept_out_of_the_json(project):
    # Like a cell interrupted by Ctrl-C after timing: stats exist, vbench metrics do not.
    project.makepyfile(test_cells="""
import pytest

@pytest.mark.vbench(mode="inference")
def test_inference(vb_cell, benchmark):
    benchmark(lambda: None)
    raise AssertionError("failed after measuring")
""")
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-json", "out.json")
    result.assert_outcomes(failed=1)
    assert not (project.path / "out.json").exists() or \
        json.loads((project.path / "out.json").read_text())["benchmarks"] == []


def test_baseline_runs_pools_the_newest_stored_runs(project):
    for _ in range(2):
        run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=1)
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                 "--vb-baseline-runs", "3", "--vb-fail-on", DETERMINISTIC, "--vb-verdict-json", "v.json")
    assert result.ret == 0
    verdicts = json.loads((project.path / "v.json").read_text())
    assert verdicts["baseline"].startswith("2 stored runs, 0001_")  # only two are stored: both pooled
    stored = sorted((project.path / ".benchmarks").glob("*/*.json"))
    assert len(stored) == 2


def test_bad_baseline_runs_is_a_usage_error(project):
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--vb-baseline-runs", "0")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--vb-baseline-runs must be an integer >= 1, got '0'*"])
