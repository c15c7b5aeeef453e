"""``vbench history`` over stored sessions whose steps are known, bad input in one line, and the gate's
baseline placed after the last step."""

import json

import numpy as np
import pytest

from history_helpers import KEY, write_series, write_session
from vbench.cli import main
from vbench.compare import GatePolicy, compare_sessions, load_run
from vbench.errors import ExitStatus, VBenchError
from vbench.history import history_of
from vbench.history.trends import gate_windows


def levels(*parts, sigma=0.01, seed=0):
    """Values (ms) from (level, count) pairs with lognormal noise."""
    rng = np.random.default_rng(seed)
    return [level * float(np.exp(rng.normal(0, sigma))) for level, count in parts for _ in range(count)]


def steps_of(result, cell="net", metric="latency_median"):
    trend = next(t for t in result.trends if cell in t.series.cell and t.series.metric.name == metric)
    return trend, [(result.history.sessions[s.before].commit, result.history.sessions[s.after].commit, s.size)
                   for s in trend.steps]


def commit_of(folder, index):
    return json.loads(sorted(folder.iterdir())[index].read_text())["commit_info"]["id"]


def test_a_step_up_is_placed_between_the_right_commits(tmp_path):
    folder = tmp_path / "storage"
    write_series(folder, levels((10.0, 9), (13.0, 7)), others={"steady": 5.0})
    result = history_of([folder], fail_on="time:5%")  # on a CPU the gate judges norm_time, not time
    trend, steps = steps_of(result)
    assert [(b, a) for b, a, _ in steps] == [(commit_of(folder, 8), commit_of(folder, 9))]
    assert steps[0][2] == pytest.approx(0.30, abs=0.02)
    assert trend.window == list(range(9, 16))  # the sessions after the step (fewer than the gate's 10)
    _, steady = steps_of(result, "steady")
    assert steady == []


def test_a_step_down_an_improvement_starts_a_new_window(tmp_path):
    folder = tmp_path / "storage"
    write_series(folder, levels((10.0, 10), (7.0, 3)))
    trend, steps = steps_of(history_of([folder], fail_on="time:5%"))
    assert len(steps) == 1 and steps[0][2] == pytest.approx(-0.30, abs=0.02)
    assert trend.window == [10, 11, 12]


def test_no_change_and_a_slow_drift(tmp_path):
    flat = tmp_path / "flat"
    write_series(flat, levels((10.0, 16), seed=4))
    trend, steps = steps_of(history_of([flat], fail_on="time:5%"))
    assert steps == [] and trend.window == list(range(6, 16)) and trend.total is None
    drift = tmp_path / "drift"
    write_series(drift, [10.0 * 1.01 ** i for i in range(20)])  # +1% per commit, +21% in all
    trend, steps = steps_of(history_of([drift]))
    assert steps and all(size > 0 and size < 0.15 for _, _, size in steps)  # cut into small steps
    assert trend.total == pytest.approx(0.16, abs=0.06)  # the newest segment over the oldest


def test_history_command_writes_markdown_json_and_a_self_contained_page(tmp_path, capsys):
    folder = tmp_path / ".benchmarks" / KEY
    write_series(folder, levels((10.0, 8), (20.0, 6)), others={"steady": 5.0})
    out = tmp_path / "out"
    assert main(["history", str(tmp_path / ".benchmarks"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| inference net-eager-bs8-64px | latency_median | +9" in printed  # about +100%
    assert f"`{commit_of(folder, 7)[:10]}..{commit_of(folder, 8)[:10]}`" in printed
    data = json.loads((out / "history.json").read_text())
    series = {(s["cell"], s["metric"]): s for s in data["series"]}
    step = series[("inference net-eager-bs8-64px", "latency_median")]["steps"][0]
    assert (step["before_commit"], step["after_commit"]) == (commit_of(folder, 7), commit_of(folder, 8))
    assert data["method"]["alpha"] == 0.05 and data["method"]["min_size"] == 2
    page = (out / "history.html").read_text()
    assert page.count("<img class='trend'") == 2 and "http" not in page.replace("http-equiv", "")
    assert page.index("net-eager") < page.index("steady-eager")  # cells with a step first


def test_k_filters_cells_like_pytest_and_since_limits_the_window(tmp_path):
    folder = tmp_path / "storage"
    write_series(folder, levels((10.0, 8), (20.0, 6)), others={"steady": 5.0})
    result = history_of([folder], keyword="steady and not net")
    assert {t.series.cell for t in result.trends} == {"inference steady-eager-bs8-64px"}
    from datetime import datetime, timezone

    result = history_of([folder], since=datetime(2026, 1, 1, 10, tzinfo=timezone.utc))
    assert len(result.history.sessions) == 4 and "10 session(s) before 2026-01-01 left out (--since)" in result.history.notes


@pytest.mark.parametrize("case, args, message", [
    ("missing", ["NOPE"], "vbench: error: NOPE does not exist"),
    ("single", ["storage"], "vbench: error: only one session of hardware key test-cpu-2t-torch2"),
    ("no match", ["storage", "-k", "resnet"], "vbench: error: -k 'resnet' matches no cell"),
    ("bad k", ["storage", "-k", "a and"], "vbench: error: -k 'a and':"),
    ("bad since", ["storage", "--since", "yesterday"], "vbench: error: --since must be a date"),
    ("corrupt", ["storage/0001_c0.json"], "vbench: error: storage/0001_c0.json is not valid JSON"),
    ("foreign key", ["storage", "--hardware", "h100"], "vbench: error: --hardware h100: no session has that hardware key"),
])
def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys, case, args, message):
    monkeypatch.chdir(tmp_path)
    write_series(tmp_path / "storage", [10.0])
    if case == "corrupt":
        (tmp_path / "storage" / "0001_c0.json").write_text('{"benchmarks": [')
    assert main(["history", *args, "--out", "out"]) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err


def test_sessions_without_git_info_mixed_keys_and_older_schemas_are_one_note_each(tmp_path):
    folder = tmp_path / "storage"
    write_series(folder, levels((10.0, 6)))
    write_session(folder / "0007_nogit.json", 6, {"net": 10.0}, git=False)
    write_session(folder / "0008_other.json", 7, {"net": 30.0}, hardware_key="other-gpu")
    # an older schema: no norm_time in the first sessions, then it is recorded
    for i in range(8, 12):
        write_session(folder / f"{i + 1:04d}_norm.json", i, {"net": 10.0}, norm={"net": 2.0}, schema_version=2)
    (folder / "0099_truncated.json").write_text("{")
    notes = history_of([folder]).history.notes
    assert any(n.startswith("session skipped: ") and "0099_truncated.json is not valid JSON" in n for n in notes)
    assert any("1 of 11 session(s) have no git info (commit time): placed by the time they ran" in n for n in notes)
    assert any("other keys left out, never mixed: other-gpu (1)" in n for n in notes)
    assert any(n.startswith("norm_time: 7 session(s) lack it for some cells (schema 1;") for n in notes)
    with pytest.raises(VBenchError, match="^only one session of hardware key other-gpu .*: a history needs at least 4"):
        history_of([folder], hardware="other-gpu")
    write_series(tmp_path / "three", [10.0, 10.0, 30.0])
    assert history_of([tmp_path / "three"]).history.notes[-1] == (
        "3 sessions: a step needs at least 2 on each side, so none can be found yet")


def _rss_sessions(folder, old, new):
    """Sessions whose cells' peak RSS steps from 1000 to 1300 MiB (an accepted change on main)."""
    paths = []
    folder.mkdir()
    for i in range(old + new):
        rss = 1000.0 if i < old else 1300.0
        paths.append(write_session(folder / f"{i + 1:04d}_s.json", i, {f"m{j}": 10.0 for j in range(4)}))
        data = json.loads(paths[-1].read_text())
        for j, bench in enumerate(data["benchmarks"]):
            bench["extra_info"]["peak_rss_mb"] = rss * (1 + 0.002 * np.sin(i * 7 + j))
        paths[-1].write_text(json.dumps(data))
    return [load_run(p) for p in paths]


def test_the_gate_judges_against_the_sessions_after_the_last_accepted_step(tmp_path):
    runs = _rss_sessions(tmp_path / "s", 12, 4)
    current = runs[-1]  # a pull request on top of the new level
    policy = GatePolicy.build("rss:10%,time:off,relative:off")
    windows = gate_windows(runs[:-1], KEY, policy.tolerance)
    assert len(windows.sessions) == 4  # one per cell's rss
    assert windows.notes[0].startswith("history of 15 stored sessions: inference m0-eager-bs8-64px peak_rss_mb: step +30.0%")
    baselines = runs[-6:-1]  # the gate's newest 5: two before the step, three after
    rss = lambda report: [r for r in report.rows if r.metric == "peak_rss_mb"]  # noqa: E731
    after = compare_sessions(baselines, current, policy, keep=5, windows=windows.sessions)
    assert {r.verdict for r in rss(after)} == {"unchanged"}
    assert all(r.sessions == 3 and "baseline: the 3 session(s) after a step in the history" in r.note
               for r in rss(after))
    # +15% more on top of the new level: caught against the sessions after the step; against the
    # mixed five the step itself is the noise, and the same change hides in it.
    for cell in current.cells.values():
        cell.extra["peak_rss_mb"] *= 1.15
    mixed = compare_sessions(baselines, current, policy, keep=5)
    after = compare_sessions(baselines, current, policy, keep=5, windows=windows.sessions)
    assert {r.verdict for r in rss(after)} == {"regressed"}
    assert {r.verdict for r in rss(mixed)} == {"unchanged"}
    assert all("noisy: only a change above" in r.note for r in rss(mixed))


def test_a_step_within_the_tolerance_or_too_recent_does_not_move_the_gate(tmp_path):
    runs = _rss_sessions(tmp_path / "s", 12, 3)
    assert gate_windows(runs, KEY, GatePolicy.build("rss:40%").tolerance).sessions == {}  # +30% < 40%
    assert gate_windows(runs[:3], KEY, GatePolicy.build("rss:10%").tolerance).sessions == {}  # too few sessions


def test_a_row_judged_after_a_step_is_not_overruled_by_the_whole_session_rule(tmp_path):
    # Main stepped -20% in time 3 sessions ago (accepted); K = 8 mixes 5 sessions from before the step.
    rng = np.random.default_rng(0)
    cells = [f"m{j}" for j in range(10)]
    runs = [load_run(write_session(tmp_path / f"{i + 1:04d}_s.json", i,
                                   {c: (10.0 if i < 12 else 8.0) * float(np.exp(rng.normal(0, 0.01))) for c in cells}))
            for i in range(15)]
    ms = {c: 8.0 * float(np.exp(rng.normal(0, 0.01))) for c in cells}
    ms["m0"] = 9.6  # a branch at the new level with one cell +20%
    current = load_run(write_session(tmp_path / "current.json", 99, ms))
    policy = GatePolicy.build("time:5%,relative:off,rss:off,tail:off,cold_start:off,memory:off")
    windows = gate_windows(runs, KEY, policy.tolerance).sessions
    report = compare_sessions(runs[-8:], current, policy, keep=8, windows=windows)
    [row] = [r for r in report.rows if r.metric == "latency_median" and "m0-" in r.cell]
    # against all 8 the session moved -20%: the whole-session rule fires, yet the row's own baseline
    # is the 3 sessions after the step, and against those it is a regression
    assert "latency_median" in report.shifted
    assert row.verdict == "regressed" and "after a step in the history" in row.note


def test_report_of_a_storage_folder_reads_each_session_once_and_shows_its_steps(tmp_path, monkeypatch):
    import vbench.history.series
    import vbench.report.load
    from vbench.report import write_report

    folder = tmp_path / "storage"
    write_series(folder, levels((10.0, 8), (13.0, 8)), others={"steady": 5.0})
    interrupted = json.loads((folder / "0016_c15.json").read_text())
    interrupted["vbench"]["complete"] = False  # read by the report, left out of its history
    (folder / "0017_cut.json").write_text(json.dumps(interrupted))
    reads = []

    def counted(real):
        def load(path, **kwargs):
            reads.append(str(path))
            return real(path, **kwargs)
        return load

    for module in (vbench.report.load, vbench.history.series):
        monkeypatch.setattr(module, "load_run", counted(module.load_run))
    summary = write_report([folder], tmp_path / "out").files["summary.md"].read_text()
    assert sorted(reads) == sorted(str(p) for p in folder.iterdir())  # each file once
    trends = summary.split("## Trends", 1)[1]
    assert "16 session(s)" in trends and "17 session(s)" not in trends
    steps = [line.split("|") for line in trends.splitlines() if line.startswith("| ") and not line.startswith("| cell")]
    assert steps and all("net" in row[1] and "steady" not in row[1] for row in steps)
    assert all(20 < float(row[3].strip().rstrip("%")) < 35 for row in steps)  # the planted +30%
