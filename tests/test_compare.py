"""vbench.compare on the golden sessions: every verdict kind, bad inputs, tables, tolerances, and the
statistics of the session-level engine (spread pooled over cells, run-level error control)."""

import dataclasses
import json
import math
import re

import numpy as np
import pytest

from gate_helpers import GOLDEN, golden_baselines
from vbench.compare import (
    CellRecord, ForeignBaselineError, GatePolicy, Run, compare_paired, compare_sessions, load_run, parse_fail_on,
    render_json, render_markdown, render_text, suspect_cells,
)
from vbench.compare.io import atomic_write_bytes
from vbench.compare.stats import bound, moderated, pooled_spread, se_factor
from vbench.compare.verdicts import decide
from vbench.errors import VBenchError

TIME = GatePolicy.build("time:5%,cold_start:25%")


def verdicts(report):
    return {(r.cell.split(" ", 1)[1] if " " in r.cell else r.cell, r.metric): r.verdict for r in report.rows}


@pytest.fixture(scope="module")
def golden_report():
    return compare_sessions(golden_baselines(), load_run(GOLDEN / "current.json"), TIME)


def test_every_verdict_kind_from_the_golden_sessions(golden_report):
    v = verdicts(golden_report)
    assert v[("tiny_net-eager-bs1-32px", "latency_median")] == "regressed"  # x1.30
    assert v[("tiny_net-eager-bs1-32px", "latency_p90")] == "not gated"  # tail is off by default
    assert v[("tiny_net-eager-bs2-32px", "latency_median")] == "improved"  # x0.70
    assert v[("tiny_net-eager-bs2-32px", "cold_start_s")] == "regressed"  # x2
    assert v[("tiny_net-channels_last-bs1-32px", "latency_median")] == "unchanged"  # the same samples
    assert v[("tiny_net-channels_last-bs2-32px", "latency_median")] == "unchanged"  # +3% < 5%
    assert v[("tiny_net-channels_last-bs2-32px", "peak_rss_mb")] == "regressed"  # x1.25
    assert v[("tiny_net-channels_last-bs2-32px", "rel_time")] == "regressed"  # x2
    assert v[("tiny_net-bf16-bs1-32px", "latency_median")] == "inconclusive"  # x1.07: beyond 5%, within the noise
    assert v[("tiny_net-bf16-bs1-32px", "gmacs")] == "model changed"
    assert v[("tiny_net-bf16-bs1-32px", "params")] == "model changed"
    assert v[("tiny_net-eager-bs4-32px", "-")] == "new"
    assert v[("tiny_net-bf16-bs2-32px", "-")] == "missing"
    assert golden_report.exit_status == 1 and golden_report.counts()["regressed"] == 4
    assert golden_report.sessions == 3 and golden_report.checks == 18
    # an inconclusive row says how to decide it; it does not fail the run unless asked to
    row = next(r for r in golden_report.rows if r.verdict == "inconclusive")
    assert "--vb-confirm-sessions" in row.note and 'tiny_net-bf16-bs1-32px' in row.note
    only_inconclusive = dataclasses.replace(golden_report, rows=[r for r in golden_report.rows if r.verdict != "regressed"])
    assert only_inconclusive.exit_status == 0
    strict = GatePolicy.build("time:5%", fail_on_inconclusive=True)
    assert dataclasses.replace(only_inconclusive, policy=strict).exit_status == 1
    # fewer checks, a looser per-check level: the same +10.7% is now beyond the bound
    fewer = compare_sessions(golden_baselines(), load_run(GOLDEN / "current.json"),
                             GatePolicy.build("time:5%,rss:off,relative:off,cold_start:off"))
    assert fewer.checks == 5 and verdicts(fewer)[("tiny_net-bf16-bs1-32px", "latency_median")] == "regressed"


def test_an_unchanged_session_passes():
    base = golden_baselines()
    report = compare_sessions(base[:2], base[2], TIME)
    assert report.exit_status == 0
    assert {r.verdict for r in report.rows} <= {"unchanged", "not gated"}


def test_fewer_sessions_than_wanted_widen_the_bound():
    base = golden_baselines()
    cur = load_run(GOLDEN / "current.json")
    three = {(r.cell, r.metric): r for r in compare_sessions(base, cur, TIME).rows}
    one = {(r.cell, r.metric): r for r in compare_sessions(base[:1], cur, TIME).rows}
    key = ("inference tiny_net-eager-bs1-32px", "latency_median")
    assert one[key].can_catch > three[key].can_catch
    assert "spread assumed" in one[key].note and one[key].sessions == 1


def test_tolerances_and_per_cell_overrides(tmp_path):
    base, cur = golden_baselines(), load_run(GOLDEN / "current.json")
    loose = compare_sessions(base, cur, GatePolicy.build("time:50%,relative:off,cold_start:off,rss:off"))
    assert loose.exit_status == 0
    matrix = tmp_path / "m.yaml"
    matrix.write_text('entries: [{models: [tiny_net], optimizations: [eager], batch_sizes: [1]}]\n'
                      'gate:\n  fail_on: "rss:off,relative:off,time:5%"\n  cells:\n    "tiny_net-eager-*": "time:50%,cold_start:off"\n'
                      '    "tiny_net-bf16-*": "time:10%"\n')
    report = compare_sessions(base, cur, GatePolicy.build(None, matrix))
    assert report.exit_status == 0
    from vbench.profiles import load_matrix

    assert load_matrix(matrix).entries[0].models == ("tiny_net",)


def test_device_presets_gate_norm_time_on_cpu_and_time_on_cuda():
    cpu, cuda = GatePolicy.build(device_type="cpu"), GatePolicy.build(device_type="cuda:0")
    assert cpu.tolerance("x", "time") is None and cpu.tolerance("x", "relative") == 0.05
    assert cuda.tolerance("x", "time") == 0.05
    assert GatePolicy.build("time:7%", device_type="cpu").tolerance("x", "time") == pytest.approx(0.07)


@pytest.mark.parametrize("text, message", [
    ("time:5", None), ("memory:2.5%,cold_start:off", None),
    ("speed:5%", "must be CATEGORY:PERCENT"), ("time:fast", "not a percentage"), ("time:-1%", ">= 0"),
    ("time:nan%", "not a percentage"), ("time:inf", "not a percentage"), (",,,", "is empty"),
    ("time:5%%", "not a percentage"), ("time:5%,", "must be CATEGORY:PERCENT"), ("", "is empty"),
])
def test_parse_fail_on(text, message):
    if message is None:
        parsed = parse_fail_on(text)
        assert all(v is None or 0 <= v < 1 for v in parsed.values())
    else:
        with pytest.raises(VBenchError, match=message):
            parse_fail_on(text)


def test_the_option_named_in_errors_is_the_one_used():
    with pytest.raises(VBenchError, match="^--fail-on time"):
        GatePolicy.build("time:x", option="--fail-on")


def test_foreign_baseline_refused_with_both_keys_then_allowed():
    foreign, cur = load_run(GOLDEN / "foreign.json"), load_run(GOLDEN / "baseline.json")
    with pytest.raises(ForeignBaselineError) as info:
        compare_sessions([foreign], cur)
    message = str(info.value)
    assert "nvidia-h100" in message and cur.hardware_key in message and "\n" not in message
    report = compare_sessions([foreign], cur, allow_foreign=True)
    assert report.cross_hardware and all(r.note.startswith("cross-hardware") for r in report.rows)


@pytest.mark.parametrize("name, message", [
    ("truncated.json", "is not valid JSON (truncated or corrupt"),
    ("not_benchmark.json", "is not pytest-benchmark JSON"),
    ("no_samples.json", "has no raw per-round samples"),
    ("does_not_exist.json", "does not exist"),
])
def test_bad_inputs_are_one_line_errors(name, message):
    path = GOLDEN / name
    before = path.read_bytes() if path.exists() else None
    with pytest.raises(VBenchError, match=re.escape(message)) as info:
        load_run(path)
    assert "\n" not in str(info.value)
    assert (path.read_bytes() if path.exists() else None) == before  # never modified


@pytest.mark.parametrize("samples, message", [
    ([0.0, 0.0, 0.0], "not finite positive"), ([float("nan"), 0.1], "not finite positive"),
    (["fast", "slow"], "non-numeric"), ([-0.1, 0.1], "not finite positive"),
])
def test_unusable_samples_are_one_line_errors(tmp_path, samples, message):
    data = json.loads((GOLDEN / "baseline.json").read_text())
    data["benchmarks"][0]["stats"]["data"] = samples
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(VBenchError, match=message):
        load_run(path)


def test_table_markdown_and_json(golden_report):
    text = render_text(golden_report)
    header = next(line for line in text.splitlines() if line.startswith("cell"))
    for column in ("cell", "metric", "baseline", "current", "change", "can catch", "p", "verdict", "note"):
        assert column in header
    assert "vbench gate: 4 regressed, 1 inconclusive, 1 improved" in text
    assert "18 gated checks; chance that an unchanged run shows any regression <= 1% (Bonferroni" in text
    short = render_text(golden_report, max_rows=5)
    assert "25 unchanged or not gated rows not shown" in short
    assert not [line for line in short.splitlines() if line.startswith("inference") and " unchanged " in line]
    md = render_markdown(golden_report)
    assert md.startswith("### vbench gate: FAILED") and "| inference tiny_net-eager-bs1-32px | latency_median |" in md
    data = json.loads(render_json(golden_report))
    assert data["exit_status"] == 1 and data["counts"]["missing"] == 1 and len(data["rows"]) == len(golden_report.rows)
    assert data["checks"] == 18 and data["per_check_level"] == pytest.approx(0.01 / 18)
    assert data["correction"] == "bonferroni" and data["baseline_sessions"] == 3


def test_atomic_write_keeps_old_file_on_interrupt(tmp_path, monkeypatch):
    target = tmp_path / "run.json"
    target.write_bytes(b'{"old": true}')

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr("vbench.compare.io.os.replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b'{"new": ')
    assert target.read_bytes() == b'{"old": true}'
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


# -- the statistics ------------------------------------------------------------------------------

def test_pooled_spread_recovers_the_common_spread_and_resists_a_noisy_cell():
    rng = np.random.default_rng(0)
    groups = [list(rng.normal(0, 0.03, 3)) for _ in range(200)]
    assert pooled_spread(groups, 0.1).sigma == pytest.approx(0.03, rel=0.15)
    groups[:10] = [list(rng.normal(0, 0.5, 3)) for _ in range(10)]  # a noise episode in 5% of cells
    assert pooled_spread(groups, 0.1).sigma == pytest.approx(0.03, rel=0.2)
    # ... and the noisy cell's own bound widens
    quiet_sigma, _ = moderated([0.0, 0.01, -0.01], pooled_spread(groups, 0.1))
    noisy_sigma, _ = moderated([0.0, 0.5, -0.5], pooled_spread(groups, 0.1))
    assert noisy_sigma > 5 * quiet_sigma
    assert pooled_spread([[0.1]], 0.07).prior and pooled_spread([[0.1]], 0.07).sigma == 0.07


def _simulated_run(rng, cells, k, sigma, effect=0.0, tail_df=None, confirm=2):
    """One unchanged (or ``effect``-slower) session against ``k`` baseline sessions, as the gate runs
    it: log values with a per-session offset per cell (Student t with ``tail_df`` for heavy tails);
    a suspect is judged on ``confirm`` fresh sessions."""
    draw = (lambda n: rng.standard_t(tail_df, n) * sigma) if tail_df else (lambda n: rng.normal(0, sigma, n))
    base = [list(draw(k)) for _ in range(cells)]
    spread = pooled_spread(base, 0.1)
    level = 0.01 / cells
    out = []
    for b in base:
        s, df = moderated(b, spread)
        verdict = decide(draw(1)[0] + effect - np.mean(b), 0.05, bound(s, df, se_factor(1, k), level, 0.05))
        if confirm and verdict in ("regressed", "inconclusive"):
            fresh = float(np.mean(draw(confirm))) + effect - np.mean(b)
            verdict = decide(fresh, 0.05, bound(s, df, se_factor(confirm, k), level, 0.05))
        out.append(verdict)
    return out


def test_run_level_false_alarms_stay_below_alpha_in_simulation():
    # 200 unchanged runs of 100 checks, between-session spread 1% and 3%, normal and heavy-tailed
    # (t5): a run is red when any check regresses. Bonferroni and the t quantile keep that near 1%
    # (binomial slack for 200 runs: at most 6).
    rng = np.random.default_rng(42)
    for tail_df in (None, 5):
        for sigma in (0.01, 0.03):
            red = sum("regressed" in _simulated_run(rng, 100, 3, sigma, tail_df=tail_df) for _ in range(200))
            assert red <= 6, (tail_df, sigma, red)


def test_a_ten_percent_slowdown_is_caught_when_sessions_agree_within_one_percent():
    rng = np.random.default_rng(7)
    caught = sum(v == "regressed" for _ in range(20) for v in _simulated_run(rng, 150, 3, 0.01, effect=math.log(1.10)))
    assert caught / (20 * 150) >= 0.95
    # ... and a cell whose sessions disagree by 3% says it cannot
    rng = np.random.default_rng(8)
    noisy = [v for _ in range(5) for v in _simulated_run(rng, 150, 3, 0.03, effect=math.log(1.10))]
    assert noisy.count("regressed") / len(noisy) < 0.5


def _record(name, samples, *, confirm=(), **extra):
    extra = {"mode": "inference", **extra}
    if confirm:
        extra["gate_confirm"] = {"sessions": [{"samples_s": list(s)} for s in confirm]}
    return CellRecord(f"t.py::t[{name}]", f"t[{name}]", extra, list(samples))


def _run(records, source="r"):
    run = Run(source, "key")
    run.cells = {r.fullname: r for r in records}
    return run


def _sessions(rng, names, k, sigma=0.02):
    return [_run([_record(n, 0.010 * math.exp(rng.normal(0, sigma)) * (1 + 0.01 * rng.standard_normal(30)))
                  for n in names], f"s{i}") for i in range(k)]


def test_a_suspect_is_judged_on_its_fresh_sessions():
    rng = np.random.default_rng(3)
    names = [f"c{i}" for i in range(20)]
    base = _sessions(rng, names, 3)
    slow = 0.0115 * (1 + 0.01 * rng.standard_normal(30))  # this session: +15%
    fine = [0.010 * (1 + 0.01 * rng.standard_normal(30)) for _ in range(2)]
    others = [_record(n, 0.010 * (1 + 0.01 * rng.standard_normal(30))) for n in names[1:]]
    burst = compare_sessions(base, _run([_record("c0", slow)] + others), TIME)
    assert suspect_cells(burst) == ["t.py::t[c0]"]
    settled = compare_sessions(base, _run([_record("c0", slow, confirm=fine)] + others), TIME)
    row = next(r for r in settled.rows if r.metric == "latency_median" and "c0" in r.cell)
    assert row.verdict == "unchanged" and row.confirm == 2 and "2 fresh session(s)" in row.note
    really = [0.0115 * (1 + 0.01 * rng.standard_normal(30)) for _ in range(2)]
    confirmed = compare_sessions(base, _run([_record("c0", slow, confirm=really)] + others), TIME)
    row = next(r for r in confirmed.rows if r.metric == "latency_median" and "c0" in r.cell)
    assert row.verdict == "regressed" and row.change == pytest.approx(0.15, abs=0.04)


def test_unstable_baseline_sessions_and_other_compile_cache_states_are_left_out():
    rng = np.random.default_rng(5)
    base = _sessions(rng, ["c0"], 3)
    base[0].cells["t.py::t[c0]"].extra["unstable"] = True
    for i, run in enumerate(base):
        run.cells["t.py::t[c0]"].extra.update(cold_start_s=30.0 if i == 2 else 2.0,
                                               compile_cache="cold" if i == 2 else "warm")
    cur = _run([_record("c0", 0.010 * (1 + 0.01 * rng.standard_normal(30)), cold_start_s=31.0, compile_cache="cold")])
    rows = {r.metric: r for r in compare_sessions(base, cur, TIME).rows}
    assert rows["latency_median"].sessions == 2 and "unstable" in rows["latency_median"].note
    assert rows["cold_start_s"].sessions == 1 and rows["cold_start_s"].verdict == "unchanged"
    assert "compile cache cold here" in rows["cold_start_s"].note


def test_paired_sessions_judge_the_ratio_of_each_pair():
    rng = np.random.default_rng(11)
    pairs = []
    for _ in range(3):
        offset = math.exp(rng.normal(0, 0.05))  # the pair's machine state: hits both sides alike
        a = _run([_record(n, offset * 0.010 * (1 + 0.005 * rng.standard_normal(30))) for n in ("c0", "c1", "c2")])
        b = _run([_record(n, offset * (1.2 if n == "c0" else 1.0) * 0.010 * (1 + 0.005 * rng.standard_normal(30)))
                  for n in ("c0", "c1", "c2")])
        pairs.append((a, b))
    report = compare_paired(pairs, TIME)
    v = {(r.cell, r.metric): r.verdict for r in report.rows}
    assert v[("inference c0", "latency_median")] == "regressed"
    assert v[("inference c1", "latency_median")] == "unchanged" and v[("inference c2", "latency_median")] == "unchanged"
    assert report.sessions == 3


def _matrix(rng, k, cells=12, session_factor=None, cell_factor=None):
    """k sessions of ``cells`` cells with 1% session noise; ``session_factor[j]`` scales session j's
    every cell; ``cell_factor[c]`` scales cell c in the last session."""
    names = [f"c{i}" for i in range(cells)]
    runs = []
    for j in range(k):
        f = (session_factor or {}).get(j, 1.0)
        scale = [f * ((cell_factor or {}).get(c, 1.0) if j == k - 1 else 1.0) for c in range(cells)]
        runs.append(_run([_record(n, 0.010 * scale[c] * math.exp(rng.normal(0, 0.01)) * (1 + 0.002 * rng.standard_normal(20)))
                          for c, n in enumerate(names)], f"s{j}"))
    return runs


def test_a_baseline_session_whose_every_cell_moved_is_left_out():
    rng = np.random.default_rng(21)
    runs = _matrix(rng, 6, session_factor={1: 1.5})  # session 1: a loaded machine, every cell +50%
    report = compare_sessions(runs[:5], runs[5], TIME)
    assert report.sessions == 4 and "s1 left out" in report.notes[0] and "+50%" in report.notes[0]
    assert report.exit_status == 0


def test_a_current_session_whose_every_cell_moved_is_inconclusive_not_red():
    rng = np.random.default_rng(22)
    everything = _matrix(rng, 6, cell_factor={c: 1.3 for c in range(12)})
    report = compare_sessions(everything[:5], everything[5], TIME)
    assert report.exit_status == 0 and report.counts()["regressed"] == 0
    assert report.counts()["inconclusive"] >= 10
    assert any("the whole session moved +30% in latency_median" in n for n in report.notes)
    # ... while a third of the cells 30% slower is a regression of those cells
    rng = np.random.default_rng(22)
    some = _matrix(rng, 6, cell_factor={c: 1.3 for c in range(4)})
    report = compare_sessions(some[:5], some[5], TIME)
    regressed = {r.cell for r in report.regressions if r.metric == "latency_median"}
    assert regressed == {f"inference c{c}" for c in range(4)} and report.exit_status == 1


def test_memory_that_grew_in_every_cell_is_a_regression_not_a_machine_effect():
    rng = np.random.default_rng(23)
    runs = _matrix(rng, 6)
    for cell in runs[-1].cells.values():
        cell.extra["peak_rss_mb"] = 1000.0 * 1.3
    for run in runs[:-1]:
        for cell in run.cells.values():
            cell.extra["peak_rss_mb"] = 1000.0 * float(np.exp(rng.normal(0, 0.005)))
    report = compare_sessions(runs[:5], runs[5], TIME)
    rss = [r for r in report.rows if r.metric == "peak_rss_mb"]
    assert len(rss) == 12 and all(r.verdict == "regressed" for r in rss)
    assert "peak_rss_mb" not in report.shifted


def test_whole_session_rule_with_two_baseline_sessions():
    rng = np.random.default_rng(24)
    runs = _matrix(rng, 3, cell_factor={c: 1.3 for c in range(12)})
    report = compare_sessions(runs[:2], runs[2], TIME)
    assert report.counts()["regressed"] == 0 and "latency_median" in report.shifted


def test_the_newest_baseline_session_is_never_left_out():
    rng = np.random.default_rng(25)
    runs = _matrix(rng, 6, session_factor={3: 0.85, 4: 0.85})  # main got 15% faster two sessions ago
    report = compare_sessions(runs[:5], runs[5], TIME)
    assert report.sessions == 5 and not any("left out" in n for n in report.notes)


def test_a_cell_with_fewer_baseline_sessions_has_a_wider_bound():
    rng = np.random.default_rng(26)
    runs = _matrix(rng, 6)
    for run in runs[:4]:  # c0 only in the newest baseline session (a cell just added to the matrix)
        del run.cells["t.py::t[c0]"]
    rows = {r.cell: r for r in compare_sessions(runs[:5], runs[5], TIME).rows if r.metric == "latency_median"}
    assert rows["inference c0"].sessions == 1 and rows["inference c1"].sessions == 5
    assert rows["inference c0"].can_catch > rows["inference c1"].can_catch


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_a_value_that_is_not_a_positive_number_is_not_judged(value):
    rng = np.random.default_rng(27)
    runs = _matrix(rng, 4)
    runs[-1].cells["t.py::t[c0]"].extra["peak_rss_mb"] = value
    for run in runs[:-1]:
        run.cells["t.py::t[c0]"].extra["peak_rss_mb"] = 500.0
    (row,) = [r for r in compare_sessions(runs[:3], runs[3], TIME).rows
              if r.metric == "peak_rss_mb" and r.cell == "inference c0"]
    assert row.verdict == "not gated" and "not a positive finite number" in row.note


def test_a_cell_one_side_of_ab_lacks_is_listed():
    rng = np.random.default_rng(28)
    a, b = _matrix(rng, 1)[0], _matrix(rng, 1)[0]
    del b.cells["t.py::t[c0]"]
    v = {(r.cell, r.metric): r.verdict for r in compare_paired([(a, b)], TIME).rows}
    assert v[("inference c0", "-")] == "missing"


@pytest.mark.slow
def test_unchanged_runs_through_compare_sessions_rarely_go_red():
    # The engine itself (not a re-implementation): 40 unchanged runs of 20 cells sharing a per-session
    # offset and per-cell noise, 5 baseline sessions, suspects given 4 fresh sessions.
    rng = np.random.default_rng(29)
    red = 0
    for _ in range(40):
        runs = _matrix(rng, 6, cells=20)
        first = compare_sessions(runs[:5], runs[5], TIME, confirm_planned=4)
        for name in suspect_cells(first):
            runs[5].cells[name].extra["gate_confirm"] = {"sessions": [
                {"samples_s": list(0.010 * math.exp(rng.normal(0, 0.01)) * (1 + 0.002 * rng.standard_normal(20)))}
                for _ in range(4)]}
        red += compare_sessions(runs[:5], runs[5], TIME, confirm_planned=4).exit_status
    assert red <= 2


def test_a_regression_measured_on_a_busier_machine_is_inconclusive():
    rng = np.random.default_rng(30)
    runs = _matrix(rng, 6, cell_factor={0: 1.5})
    for run in runs[:5]:
        for cell in run.cells.values():
            cell.extra["load_avg_1m"] = 1.2
    for cell in runs[5].cells.values():
        cell.extra["load_avg_1m"] = 1.3
    quiet = {r.cell: r for r in compare_sessions(runs[:5], runs[5], TIME).rows if r.metric == "latency_median"}
    assert quiet["inference c0"].verdict == "regressed"
    fresh = [{"samples_s": [0.015] * 20, "load_avg_1m": 3.4} for _ in range(2)]  # re-measured while loaded
    runs[5].cells["t.py::t[c0]"].extra["gate_confirm"] = {"sessions": fresh}
    busy = {r.cell: r for r in compare_sessions(runs[:5], runs[5], TIME).rows if r.metric == "latency_median"}
    assert busy["inference c0"].verdict == "inconclusive"
    assert "busier than during the baseline sessions (load 3.4 against 1.2)" in busy["inference c0"].note


def test_markdown_escapes_html_from_the_json(tmp_path):
    data = json.loads((GOLDEN / "current.json").read_text())
    data["benchmarks"][0]["name"] = 'test_inference[<img src=x onerror=alert(1)>]'
    data["benchmarks"][0]["fullname"] = "t.py::" + data["benchmarks"][0]["name"]
    path = tmp_path / "cur.json"
    path.write_text(json.dumps(data))
    md = render_markdown(compare_sessions(golden_baselines(), load_run(path), TIME))
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
