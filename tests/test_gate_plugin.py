"""The gate inside real pytest sessions (pytester) of a tiny registered model.

No timing assertions: verdicts that depend on time are forced by baselines whose samples are
scaled by orders of magnitude, or by turning the time categories off.
"""

import json

import numpy as np
import pytest

from gate_helpers import CELL_ARGS, GOLDEN, local_baseline, local_key

DETERMINISTIC = "time:off,tail:off,relative:off,rss:off,cold_start:off,memory:off"


@pytest.fixture
def project(gate_project):
    return gate_project


def store_fast_baselines(root, sessions=3):
    """Stored sessions claiming the cells took 1/1000 of their real time (slightly different each)."""
    store = root / ".benchmarks" / local_key()
    store.mkdir(parents=True, exist_ok=True)
    for i in range(sessions):
        local_baseline(store / f"{i + 1:04d}_fast.json", scale=1e-3 * (1 + i / 100))
    return store


def run(pytester, *args):
    return pytester.runpytest(*CELL_ARGS, *args)


def test_autosave_is_keyed_by_hardware_and_keeps_raw_samples_then_compare_passes(project):
    key = local_key()
    first = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave", "--benchmark-compare")
    first.assert_outcomes(passed=1)
    assert first.ret == 0
    first.stdout.fnmatch_lines([f"vbench gate: no baseline for hardware key {key} in *; nothing compared, passing; "
                                "this run was saved as the first baseline"])
    saved = list((project.path / ".benchmarks").glob("*/*.json"))
    assert [p.parent.name for p in saved] == [key]
    data = json.loads(saved[0].read_text())
    assert all(b["stats"]["data"] for b in data["benchmarks"]) and data["vbench"]["complete"] is True
    before = saved[0].read_bytes()
    second = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1,2", "--benchmark-compare",
                 "--vb-fail-on", DETERMINISTIC)
    second.assert_outcomes(passed=2)
    assert second.ret == 0
    second.stdout.fnmatch_lines(["*vbench gate*", "only 1 of 10 baseline sessions stored*",
                                 "cell*metric*baseline*current*change*can catch*verdict*",
                                 "*inference tiny_net-eager-bs2-32px*new*", "*gated checks*", "vbench gate: 0 regressed*"])
    assert saved[0].read_bytes() == before


def test_missing_baseline_without_saving_says_how_to_save(project):
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*no baseline for hardware key*run with --benchmark-autosave*"])


def test_compare_to_a_run_number_that_does_not_exist_is_a_usage_error(project):
    run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=1)
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare=9999")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: vbench gate: --benchmark-compare=9999: no stored run matches in *"])


def test_regression_confirmed_in_fresh_sessions_fails_with_exit_1_and_writes_verdicts(project, monkeypatch):
    # Three baseline sessions claim the cell took 1/1000 of its real time: regressed in this session
    # and again in the fresh sessions that re-measure it.
    store = store_fast_baselines(project.path)
    summary = project.path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                 "--vb-fail-on", "time:5%", "--vb-verdict-md", "v.md", "--vb-verdict-json", "v.json",
                 "--benchmark-json", "out.json", "--vb-confirm-sessions", "2")
    result.assert_outcomes(passed=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*inference tiny_net-eager-bs1-32px*latency_median*regressed*this session +*; 2 fresh session(s) +*",
                                 "*tiny_net-bf16-bs2-32px*missing*",
                                 "vbench gate: FAILED, * regression(s)*exit status 1",
                                 "*1 passed*"])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    cell = json.loads((project.path / "out.json").read_text())["benchmarks"][0]
    sessions = cell["extra_info"]["gate_confirm"]["sessions"]
    assert len(sessions) == 2 and all(s["samples_s"] and s["norm_time_samples"] for s in sessions)
    assert cell["extra_info"]["gate_confirm"]["planned"] == 2  # a regression is called on all of them
    verdicts = json.loads((project.path / "v.json").read_text())
    assert verdicts["exit_status"] == 1 and verdicts["baseline_sessions"] == 3 and verdicts["checks"] > 0
    (median,) = [r for r in verdicts["rows"] if r["fullname"] == cell["fullname"] and r["metric"] == "latency_median"]
    assert median["confirm"] == 2
    assert any("re-measured in fresh sessions" in note for note in verdicts["notes"])
    # not a git checkout: no commit to pair with, said once
    assert any(note.startswith("A/B confirmation unavailable") for note in verdicts["notes"])
    # The saved JSON carries the fresh sessions: judged offline, it gives the same verdict.
    from vbench.cli import main

    stored = sorted(str(p) for p in store.glob("*.json"))
    assert main(["compare", *stored, str(project.path / "out.json"), "--fail-on", "time:5%",
                 "--json", str(project.path / "c.json")]) == 1
    offline = json.loads((project.path / "c.json").read_text())
    (again,) = [r for r in offline["rows"] if r["fullname"] == cell["fullname"] and r["metric"] == "latency_median"]
    assert again["verdict"] == "regressed" and again["change"] == pytest.approx(median["change"])
    assert (project.path / "v.md").read_text().startswith("### vbench gate: FAILED")
    assert "### vbench gate" in summary.read_text()
    assert not [p for p in project.path.iterdir() if p.name.endswith(".tmp")]


def test_a_stale_baseline_is_cleared_by_ab_pairs_against_its_commit(project):
    # The stored sessions claim 1/1000 of the real time (a machine that has since slowed down) and
    # were measured at the project's commit: this session looks far slower, the A/B pairs (that
    # commit in a worktree against this checkout, the same code) find both sides alike.
    import subprocess

    from vbench.cli import main

    root = project.path

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout

    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=vbench", "-c", "user.email=vbench@localhost", "commit", "-qm", "base")
    sha = git("rev-parse", "HEAD").strip()
    store = store_fast_baselines(root)
    for path in store.glob("*.json"):
        data = json.loads(path.read_text())
        data["commit_info"] = {"id": sha, "dirty": False}
        path.write_text(json.dumps(data))
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                 "--vb-fail-on", "time:5%,relative:off,rss:off", "--vb-verdict-json", "v.json", "--benchmark-json", "out.json")
    assert result.ret == 0, result.stdout.str()[-3000:]
    verdicts = json.loads((root / "v.json").read_text())
    (median,) = [r for r in verdicts["rows"] if r["metric"] == "latency_median" and "eager-bs1" in r["cell"]]
    assert median["verdict"] in ("unchanged", "inconclusive") and median["confirm"] >= 1
    assert f"A/B pair(s) against {sha[:10]}" in median["note"] and "this session +" in median["note"]
    assert verdicts["pair_checks"] >= 1 and any("re-measured in A/B pairs" in n for n in verdicts["notes"])
    cell = json.loads((root / "out.json").read_text())["benchmarks"][0]
    confirm = cell["extra_info"]["gate_confirm"]
    assert confirm["against"] == sha and confirm["planned"] == 8 and len(confirm["pairs"]) == median["confirm"]
    assert all(p["base"]["samples_s"] and p["current"]["samples_s"] for p in confirm["pairs"])
    assert len(git("worktree", "list").splitlines()) == 1  # the baseline commit's worktree is gone
    # The saved JSON carries the pairs: judged offline, the same verdict.
    stored = sorted(str(p) for p in store.glob("*.json"))
    assert main(["compare", *stored, str(root / "out.json"), "--fail-on", "time:5%,relative:off,rss:off",
                 "--json", str(root / "c.json")]) == 0
    (again,) = [r for r in json.loads((root / "c.json").read_text())["rows"] if r["fullname"] == cell["fullname"]
                and r["metric"] == "latency_median"]
    assert again["verdict"] == median["verdict"] and again["change"] == pytest.approx(median["change"])


def test_relative_metric_is_measured_interleaved_and_judged(project):
    result = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--vb-relative", "on",
                 "--vb-relative-pairs", "4", "--benchmark-json", "out.json")
    assert result.ret == 0
    cells = {b["param"]: b["extra_info"] for b in json.loads((project.path / "out.json").read_text())["benchmarks"]}
    assert len(cells["tiny_net-channels_last-bs1-32px"]["rel_time_samples"]) == 4
    assert "rel_time_samples" not in cells["tiny_net-eager-bs1-32px"]


def test_the_probe_is_timed_before_every_round_on_cpu_by_default(project):
    result = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--benchmark-json", "on.json")
    assert result.ret == 0
    for bench in json.loads((project.path / "on.json").read_text())["benchmarks"]:
        extra = bench["extra_info"]
        assert len(extra["norm_time_samples"]) == len(bench["stats"]["data"]) >= 8
        assert extra["norm_time"] == pytest.approx(np.median(extra["norm_time_samples"]))
        assert extra["probe_ms_p50"] > 0 and extra["threads"] >= 1 and extra["load_avg_1m"] >= 0
    off = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--vb-probe", "off", "--benchmark-json", "off.json")
    assert off.ret == 0
    (bench,) = json.loads((project.path / "off.json").read_text())["benchmarks"]
    assert "norm_time" not in bench["extra_info"]


def test_a_corrupt_or_interrupted_stored_session_is_skipped_with_a_note(project):
    for _ in range(2):
        run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=1)
    store = next((project.path / ".benchmarks").glob("*/"))
    first, second = sorted(store.glob("*.json"))
    data = json.loads(second.read_text())
    data["vbench"]["complete"] = False
    second.write_text(json.dumps(data))
    (store / "0003_broken.json").write_text('{"benchmarks": [')
    before = {p.name: p.read_bytes() for p in store.iterdir()}
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                 "--vb-fail-on", DETERMINISTIC, "--vb-verdict-json", "v.json")
    assert result.ret == 0
    notes = json.loads((project.path / "v.json").read_text())["notes"]
    assert any("0003_broken.json is not valid JSON" in n for n in notes)
    assert any(f"{second.name} was interrupted before its end" in n for n in notes)
    assert json.loads((project.path / "v.json").read_text())["baseline_sessions"] == 1
    assert {p.name: p.read_bytes() for p in store.iterdir()} == before  # nothing stored was modified


@pytest.mark.slow
def test_comparing_does_not_change_what_a_cell_measures_in_memory(project):
    # Separate processes (a library loaded by one in-process run stays loaded for the next):
    # reading vbench's machine_info loads cuDNN (~85 MB resident with a CUDA build of torch);
    # it used to happen before the cells only when comparing.
    args = ["-p", "no:cacheprovider", "--vb-models", "tiny_net", "--vb-img-sizes", "32", "--vb-opts", "eager",
            "--vb-batch-sizes", "1", "--benchmark-max-time", "0.002", "--benchmark-min-rounds", "8"]
    assert project.runpytest_subprocess(*args, "--benchmark-autosave", "--benchmark-json", "a.json").ret == 0
    assert project.runpytest_subprocess(*args, "--benchmark-compare", "--vb-fail-on", DETERMINISTIC,
                                        "--benchmark-json", "b.json").ret == 0
    rss = [json.loads((project.path / n).read_text())["benchmarks"][0]["extra_info"]["peak_rss_mb"]
           for n in ("a.json", "b.json")]
    assert abs(rss[1] - rss[0]) < 20, rss


def test_foreign_baseline_refused_in_one_line_unless_allowed(project):
    foreign = GOLDEN / "foreign.json"
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={foreign}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: vbench gate: baseline * hardware key nvidia-h100-80gb-hbm3-cuda12.8-torch2.14.1, "
                                 f"this run is {local_key()}; refusing to compare*"])
    # not buried: pytest-benchmark's own warning names the differing keys instead of dumping both dicts (~5 KB)
    output = result.stdout.str() + result.stderr.str()
    assert len(output) < 2000 and "VS saved" not in output, len(output)
    allowed = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={foreign}",
                  "--vb-allow-foreign-baseline", "--vb-fail-on", DETERMINISTIC)
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(["*tiny_net-eager-bs1-32px*cross-hardware*"])


@pytest.mark.parametrize("value, message", [
    (".", "--benchmark-compare=. is a folder"),
    ("/nowhere/0001", "--benchmark-compare=/nowhere/0001 is no file"),
])
def test_compare_given_a_folder_or_a_missing_path_is_one_line(project, value, message):
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}: give a stored run's number or a JSON file*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_compare_with_pytest_benchmarks_key_slash_number_form_still_works(project):
    run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=1)
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", f"--benchmark-compare={local_key()}/0001",
                 "--vb-fail-on", DETERMINISTIC)
    assert result.ret == 0, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*vbench gate:*unchanged*"])


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


def test_baseline_runs_takes_the_newest_stored_sessions(project):
    for _ in range(4):
        run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=1)
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare",
                 "--vb-baseline-runs", "3", "--vb-fail-on", DETERMINISTIC, "--vb-verdict-json", "v.json")
    assert result.ret == 0
    verdicts = json.loads((project.path / "v.json").read_text())
    assert verdicts["baseline_sessions"] == 3
    assert verdicts["baseline"].startswith("3 sessions, ") and "0002_" in verdicts["baseline"]
    assert verdicts["baseline"].endswith(".json") and "0004_" in verdicts["baseline"]
    assert len(sorted((project.path / ".benchmarks").glob("*/*.json"))) == 4


def test_bad_baseline_runs_is_a_usage_error(project):
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--vb-baseline-runs", "0")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--vb-baseline-runs must be an integer >= 1, got '0'*"])


def test_ctrl_c_while_confirming_keeps_the_measured_cells(project, monkeypatch):
    store = store_fast_baselines(project.path)

    def interrupted(config, names):
        raise KeyboardInterrupt

    monkeypatch.setattr("vbench.pytest_plugin.fresh.remeasure", interrupted)
    result = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare", "--vb-fail-on",
                 "time:5%", "--benchmark-json", "out.json", "--benchmark-autosave")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    saved = json.loads((project.path / "out.json").read_text())
    assert [b["param"] for b in saved["benchmarks"]] == ["tiny_net-eager-bs1-32px"]
    assert any("interrupted while re-measuring" in n for n in saved["vbench_gate"]["notes"])
    assert len(list(store.glob("0004_*.json"))) == 1  # the autosave happened too


def test_deselected_cells_are_one_note_and_a_failed_gate_shows_in_pytests_last_line(project):
    run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "--benchmark-autosave").assert_outcomes(passed=2)
    result = run(project, "--vb-opts", "eager,channels_last", "--vb-batch-sizes", "1", "-k", "channels_last",
                 "--benchmark-compare", "--vb-fail-on", DETERMINISTIC, "--vb-verdict-json", "v.json")
    assert result.ret == 0
    verdicts = json.loads((project.path / "v.json").read_text())
    assert verdicts["counts"]["missing"] == 0
    assert "1 baseline cell(s) deselected in this run (-k/-m): not compared" in verdicts["notes"]
    # a regression: pytest's closing line says so
    store = next((project.path / ".benchmarks").glob("*/"))
    for stored in store.glob("*.json"):
        stored.unlink()
    store_fast_baselines(project.path)
    failed = run(project, "--vb-opts", "eager", "--vb-batch-sizes", "1", "--benchmark-compare", "--vb-fail-on", "time:5%",
                 "--vb-confirm-sessions", "0")
    assert failed.ret == 1
    failed.stdout.fnmatch_lines(["*1 passed*regressed (vbench gate)*"])
