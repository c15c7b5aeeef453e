"""Recommendations follow from the numbers: constructed runs where the right answer is known."""

from __future__ import annotations

import pandas as pd
import pytest
from report_json import cell, guard, write_run

from vbench.report import load_frame, load_runs
from vbench.report.recommend import add_correctness, recommend, within_noise


@pytest.fixture
def frame(tmp_path):
    cells = [
        # batch 1: bf16 is fastest but wrong; channels_last and torchscript tie within noise.
        cell("m", "eager", 1, 10.0, spread=0.02),
        cell("m", "bf16", 1, 4.0, precision="bf16", top1=0.5, err=0.3, correctness=guard("bf16", 0.3, 0.5)),
        cell("m", "channels_last", 1, 7.0, spread=0.05),
        cell("m", "torchscript", 1, 7.1, spread=0.05),
        # batch 8 (the largest): amp_bf16 has the throughput, eager the best samples/s per GiB.
        cell("m", "eager", 8, 40.0, mem_mb=512.0),
        cell("m", "amp_bf16", 8, 20.0, precision="bf16", err=0.01, mem_mb=2048.0),
        cell("m", "channels_last", 8, 39.9, spread=0.05, mem_mb=1024.0),
    ]
    return load_frame([write_run(tmp_path / "run.json", cells)])


def _by_kind(recs, kind):
    return [r for r in recs if r.kind == kind]


def test_latency_pick_skips_incorrect_and_reports_noise(frame):
    recs = recommend(frame)
    (lat,) = _by_kind(recs, "latency")
    assert lat.choice == "channels_last"
    assert "7 ms" in lat.text and "1.43x eager (10 ms)" in lat.text
    assert "runner-up torchscript at 7.1 ms, within noise" in lat.text
    (bad,) = _by_kind(recs, "excluded")
    assert bad.choice == "bf16" and "the correctness guard failed it" in bad.text
    assert "max_rel_err 0.3 > 0.05" in bad.text


def test_throughput_and_per_gb_use_the_largest_batch(frame):
    recs = recommend(frame)
    (tp,) = _by_kind(recs, "throughput")
    assert tp.choice == "amp_bf16" and "(bs 8)" in tp.text
    assert "400 samples/s" in tp.text and "2.00x eager (200 samples/s)" in tp.text
    assert "a real difference" in tp.text
    (gb,) = _by_kind(recs, "per_gb")
    # eager: 200 samples/s / 0.5 GiB = 400; amp_bf16: 400 / 2 = 200; channels_last: ~200 / 1 = 200.
    assert gb.choice == "eager" and "400 samples/s/GiB" in gb.text


def test_noise_lists_what_overlaps_eager(frame):
    noise = {r.text.split(":")[0]: r for r in _by_kind(recommend(frame), "noise")}
    assert "channels_last" in noise["m bs 8"].choice  # 39.9 +-5% vs 40 +-1%
    assert "amp_bf16" not in noise["m bs 8"].choice
    assert "m bs 1" not in noise  # 7 ms +-5% does not reach 10 ms +-2%


def test_correctness_is_the_guards_field(frame):
    checked = add_correctness(frame).set_index(["optimization", "batch_size"])
    assert checked.loc[("bf16", 1), "correct"] is False
    assert checked.loc[("bf16", 1), "correct_why"].startswith("outside the bf16 tolerance vs fp32 eager")
    assert checked.loc[("amp_bf16", 8), "correct"] is True
    assert checked.loc[("eager", 1), "correct"] is True
    not_checked = pd.DataFrame([{"correctness": "not checked (--vb-tolerance off)"}, {"correctness": None}])
    assert add_correctness(not_checked)["correct"].tolist() == [None, None]


def test_unknown_correctness_is_never_recommended(tmp_path):
    run = write_run(tmp_path / "run.json", [cell("m", "eager", 1, 10.0),
                                            cell("m", "bf16", 1, 2.0, precision="bf16", correctness=None)])
    frame = add_correctness(load_frame([run]))
    assert frame.set_index("optimization").loc["bf16", "correct"] is None
    recs = recommend(frame)
    (lat,) = _by_kind(recs, "latency")
    assert lat.choice == "eager"
    assert any("correctness unknown for 1 cell(s)" in r.text for r in _by_kind(recs, "note"))


def test_a_run_from_before_the_guard_recommends_nothing(tmp_path):
    run = write_run(tmp_path / "old.json", [cell("m", "eager", 1, 10.0), cell("m", "bf16", 1, 2.0, precision="bf16")],
                    drop=("correctness",))
    recs = recommend(load_frame([run]))
    assert not _by_kind(recs, "latency") and not _by_kind(recs, "throughput")
    assert any("correctness unknown for 2 cell(s) (not recorded (a run from before the correctness guard))" in r.text
               for r in recs)


def test_within_noise_uses_raw_samples():
    a = pd.Series({"samples_s": [0.010, 0.011, 0.012, 0.013]})
    b = pd.Series({"samples_s": [0.0115, 0.012, 0.0125, 0.014]})  # q1 0.0119 <= a q3 0.0122
    c = pd.Series({"samples_s": [0.020, 0.021, 0.022, 0.023]})
    assert within_noise(a, b) is True
    assert within_noise(a, c) is False
    assert within_noise(a, pd.Series({"samples_s": None})) is None


def test_image_sizes_are_kept_apart(tmp_path):
    from vbench.report import build_report

    cells = [cell("m", "eager", 1, 10.0, img=64), cell("m", "bf16", 1, 5.0, img=64, precision="bf16"),
             cell("m", "eager", 1, 40.0, img=128), cell("m", "bf16", 1, 50.0, img=128, precision="bf16")]
    result = build_report(load_runs([write_run(tmp_path / "run.json", cells)]))
    lat = {r.model: r.choice for r in result.recommendations if r.kind == "latency"}
    assert lat == {"m @64px": "bf16", "m @128px": "eager"}
    heatmap = next(p for p in result.plots if p.name == "speedup_heatmap")
    assert len(heatmap.figure.axes) == 3  # two (size, batch) panels and the colour bar


def test_no_batch_one_says_why_there_is_no_latency_pick(tmp_path):
    run = write_run(tmp_path / "run.json", [cell("m", "eager", 8, 10.0), cell("m", "bf16", 8, 5.0, precision="bf16")])
    recs = recommend(load_frame([run]))
    assert [r.kind for r in recs if r.kind in ("latency", "note")] == ["note"]
    assert "no batch-size-1 cell" in next(r.text for r in recs if r.kind == "note")
