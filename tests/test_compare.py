"""vbench.compare on the golden files: every verdict kind, bad inputs, tables, statistics, tolerances."""

import json
import re

import numpy as np
import pytest

from gate_helpers import GOLDEN
from vbench.compare import (
    ForeignBaselineError, GatePolicy, compare_runs, compare_samples, load_run, merge_runs, parse_fail_on,
    render_json, render_markdown, render_text,
)
from vbench.compare.io import atomic_write_bytes
from vbench.errors import VBenchError


def verdicts(report):
    return {(r.cell, r.metric): r.verdict for r in report.rows}


@pytest.fixture(scope="module")
def golden_report():
    return compare_runs(load_run(GOLDEN / "baseline.json"), load_run(GOLDEN / "current.json"))


def test_every_verdict_kind_from_the_golden_pair(golden_report):
    v = verdicts(golden_report)
    for metric in ("latency_median", "throughput"):
        assert v[("tiny_net-eager-bs1-32px", metric)] == "regressed"
    # x1.30 on every sample, but this run's p90 is a noisy tail: its interval is too wide to be significant
    p90 = next(r for r in golden_report.rows if r.cell == "tiny_net-eager-bs1-32px" and r.metric == "latency_p90")
    assert p90.verdict == "unchanged" and p90.note == "beyond tolerance but not significant"
    assert v[("tiny_net-eager-bs2-32px", "latency_median")] == "improved"
    assert v[("tiny_net-eager-bs2-32px", "throughput")] == "improved"
    assert v[("tiny_net-eager-bs2-32px", "cold_start_s")] == "regressed"
    assert v[("tiny_net-channels_last-bs1-32px", "latency_median")] == "unchanged"
    assert v[("tiny_net-channels_last-bs2-32px", "latency_median")] == "unchanged"  # +3% < 5%
    assert v[("tiny_net-channels_last-bs2-32px", "peak_rss_mb")] == "regressed"
    assert v[("tiny_net-channels_last-bs2-32px", "rel_time")] == "regressed"
    assert v[("tiny_net-channels_last-bs1-32px", "rel_time")] == "unchanged"
    assert v[("tiny_net-bf16-bs1-32px", "gmacs")] == "model changed"
    assert v[("tiny_net-bf16-bs1-32px", "params")] == "model changed"
    assert v[("tiny_net-bf16-bs1-32px", "latency_median")] == "unchanged"
    assert v[("tiny_net-eager-bs4-32px", "-")] == "new"
    assert v[("tiny_net-bf16-bs2-32px", "-")] == "missing"
    assert golden_report.exit_status == 1
    assert golden_report.counts()["regressed"] == 5


def test_same_file_passes():
    run = load_run(GOLDEN / "baseline.json")
    report = compare_runs(run, run)
    assert report.exit_status == 0
    assert set(r.verdict for r in report.rows) == {"unchanged"}


def test_tolerances_and_per_cell_overrides(tmp_path):
    base, cur = load_run(GOLDEN / "baseline.json"), load_run(GOLDEN / "current.json")
    loose = compare_runs(base, cur, GatePolicy.build("time:50%,relative:off,cold_start:off,rss:off"))
    assert loose.exit_status == 0
    matrix = tmp_path / "m.yaml"
    matrix.write_text('entries: [{models: [tiny_net], optimizations: [eager], batch_sizes: [1]}]\n'
                      'gate:\n  fail_on: "rss:off,relative:off"\n  cells:\n    "tiny_net-eager-*": "time:50%,cold_start:off"\n')
    report = compare_runs(base, cur, GatePolicy.build(None, matrix))
    assert report.exit_status == 0
    # the matrix's gate: block is accepted by the matrix loader too
    from vbench.profiles import load_matrix

    assert load_matrix(matrix).entries[0].models == ("tiny_net",)


@pytest.mark.parametrize("text, message", [
    ("time:5", None), ("memory:2.5%,cold_start:off", None),
    ("speed:5%", "must be CATEGORY:PERCENT"), ("time:fast", "not a percentage"), ("time:-1%", ">= 0"),
])
def test_parse_fail_on(text, message):
    if message is None:
        parsed = parse_fail_on(text)
        assert all(v is None or 0 <= v < 1 for v in parsed.values())
    else:
        with pytest.raises(VBenchError, match=message):
            parse_fail_on(text)


def test_foreign_baseline_refused_with_both_keys_then_allowed():
    foreign, cur = load_run(GOLDEN / "foreign.json"), load_run(GOLDEN / "baseline.json")
    with pytest.raises(ForeignBaselineError) as info:
        compare_runs(foreign, cur)
    message = str(info.value)
    assert "nvidia-h100" in message and cur.hardware_key in message and "\n" not in message
    report = compare_runs(foreign, cur, allow_foreign=True)
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


def test_table_markdown_and_json(golden_report):
    text = render_text(golden_report)
    for column in ("cell", "metric", "baseline", "current", "change", "noise band", "p / interval", "verdict"):
        assert column in text.splitlines()[2]
    assert "vbench gate: 5 regressed, 3 improved" in text, text.splitlines()[-1]
    assert "p=" in text and "model changed" in text
    short = render_text(golden_report, max_rows=5)
    assert "unchanged rows not shown" in short and "| unchanged" not in short
    md = render_markdown(golden_report)
    assert md.startswith("### vbench gate: FAILED") and "| tiny_net-eager-bs1-32px | latency_median |" in md
    data = json.loads(render_json(golden_report))
    assert data["exit_status"] == 1 and data["counts"]["missing"] == 1 and len(data["rows"]) == len(golden_report.rows)


def test_statistics_follow_the_noise():
    rng = np.random.default_rng(1)
    steady = 1.0 + rng.normal(0, 0.005, 40)
    noisy = 1.0 + rng.normal(0, 0.2, 40)
    assert compare_samples(steady, steady * 1.06).significant(0.01)
    assert not compare_samples(noisy, noisy[::-1] * 1.06).significant(0.01)
    same = compare_samples(steady, steady)
    assert same.ratio == 1.0 and same.low <= 1.0 <= same.high
    assert compare_samples(steady, steady * 1.06) == compare_samples(steady, steady * 1.06)  # deterministic


def test_merge_runs_pools_samples():
    run = load_run(GOLDEN / "baseline.json")
    merged = merge_runs([run, run], "A")
    label = "tiny_net-eager-bs1-32px"
    one = next(c for c in run.cells.values() if c.label == label)
    two = next(c for c in merged.cells.values() if c.label == label)
    assert len(two.samples) == 2 * len(one.samples)
    assert two.extra["peak_rss_mb"] == one.extra["peak_rss_mb"]


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


def _record(samples, confirm=None):
    from vbench.compare import CellRecord

    extra = {"batch_size": 8}
    if confirm is not None:
        extra["gate_confirm"] = {"looked_regressed": ["latency_median"], "samples_s": list(confirm)}
    return CellRecord("t[c]", "t[c]", extra, list(samples))


def test_a_regression_must_survive_the_confirmation_re_measure():
    from vbench.compare import judge_cell
    from vbench.compare.verdicts import CHECKS

    rng = np.random.default_rng(0)
    base = _record(0.010 * (1 + 0.01 * rng.standard_normal(60)))
    slow = 0.011 * (1 + 0.01 * rng.standard_normal(60))  # +10%
    burst_then_fine = _record(slow, confirm=0.010 * (1 + 0.01 * rng.standard_normal(120)))
    row = next(r for r in judge_cell(base, burst_then_fine, GatePolicy(), CHECKS) if r.metric == "latency_median")
    assert row.verdict == "unchanged" and row.note.startswith("not confirmed: a re-measure of 120 gave -0.")
    assert row.change == pytest.approx(0.10, abs=0.01)  # the table still shows what the rounds measured
    really_slow = _record(slow, confirm=0.0112 * (1 + 0.01 * rng.standard_normal(120)))
    row = next(r for r in judge_cell(base, really_slow, GatePolicy(), CHECKS) if r.metric == "latency_median")
    assert row.verdict == "regressed" and "confirmed: +10" in row.note and "re-measure of 120" in row.note
    assert row.change == pytest.approx(0.12, abs=0.01)  # the confirmed figure


def test_p90_has_its_own_wider_default_tolerance():
    from vbench.compare import judge_cell
    from vbench.compare.verdicts import CHECKS

    rng = np.random.default_rng(1)
    base = np.sort(0.010 * (1 + 0.01 * rng.standard_normal(200)))
    tail = base.copy()
    tail[-80:] *= 1.07  # the slowest 40% got 7% slower; the median did not move
    rows = {r.metric: r for r in judge_cell(_record(base), _record(tail), GatePolicy(), CHECKS)}
    assert rows["latency_p90"].tolerance == 0.10 and rows["latency_p90"].verdict == "unchanged"
    assert rows["latency_median"].verdict == "unchanged"
    strict = GatePolicy.build("tail:5%")
    rows = {r.metric: r for r in judge_cell(_record(base), _record(tail), strict, CHECKS)}
    assert rows["latency_p90"].verdict == "regressed"


def test_merge_keeps_each_session_and_the_spread_is_max_over_min():
    from vbench.compare.stats import session_spread

    base = load_run(GOLDEN / "baseline.json")
    merged = merge_runs([base, base, merge_runs([base, base], "inner")], "three")
    cell = next(iter(merged.cells.values()))
    sessions = cell.session_samples("time")
    assert len(sessions) == 4  # a pooled run's own sessions stay separate
    assert cell.samples == [x for s in sessions for x in s]
    assert session_spread([[1.0, 2.0, 3.0], [2.2, 2.2], [1.9]], "median") == pytest.approx(2.2 / 1.9 - 1)
    assert session_spread([[1.0, 2.0]], "median") is None
