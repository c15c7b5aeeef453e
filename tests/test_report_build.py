"""The written report: files, plots present or omitted with a note, self-contained HTML, histograms."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from report_json import cell, write_run

from vbench.cli import main
from vbench.report import write_report
from vbench.schema import FIELDS

SMOKE = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "smoke-cpu-2026-11-22.json"
CORE = {"throughput_vs_batch", "speedup_heatmap", "memory_vs_batch", "latency_vs_gmacs"}


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return write_report([SMOKE], out), out


def test_real_run_writes_three_files_and_pngs(smoke_report):
    result, out = smoke_report
    assert {"cells.csv", "summary.md", "report.html"} <= set(result.files)
    csv = pd.read_csv(out / "cells.csv")
    assert len(csv) == 51 and set(FIELDS) <= set(csv.columns) and "samples_s" not in csv
    for name in CORE:
        png = out / "plots" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    omitted = {p.name for p in result.plots if p.figure is None}
    assert omitted == {"mfu", "lora_rank", "train_vs_inference", "comparison"}


def test_summary_markdown_sections(smoke_report):
    _, out = smoke_report
    md = (out / "summary.md").read_text()
    for heading in ("## Runs", "## Recommendations", "## Cells", "## Plots"):
        assert heading in md
    assert "![Throughput vs batch size](plots/throughput_vs_batch.png)" in md
    assert "samples_per_s (samples/s)" in md and "latency_ms_p50 (ms/batch)" in md
    assert "- MFU: MFU unknown" in md
    assert "| — |" in md  # mfu blank on CPU, marked, not zero


def test_html_is_self_contained(smoke_report):
    result, out = smoke_report
    page = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert len(re.findall(r'<img class="plot"[^>]+src="data:image/png;base64,', page)) == len(CORE)
    assert page.count('class="omitted"') == 4
    assert "Omitted: no LoRA cells" in page
    for rec in result.recommendations:
        assert rec.model in page


def _lora_train_cells():
    cells = []
    for rank, ms, mem in ((4, 20.0, 900.0), (16, 22.0, 950.0), (64, 30.0, 1100.0)):
        for mode, opt in (("train", f"lora_r{rank}"), ("inference", f"lora_r{rank}"),
                          ("inference", f"lora_r{rank}_merged")):
            cells.append(cell("vit", opt, 8, ms if mode == "train" else ms / 3, mode=mode, lora_rank=rank,
                              trainable_params=rank * 10, mem_mb=mem))
    cells += [cell("vit", "eager", 8, 60.0, mode="train"), cell("vit", "eager", 8, 10.0),
              cell("vit", "eager", 1, 2.0)]
    return cells


def test_lora_and_training_plots_appear_with_such_rows(tmp_path):
    run = write_run(tmp_path / "lora.json", _lora_train_cells())
    result = write_report([run], tmp_path / "out")
    plots = {p.name: p for p in result.plots}
    assert plots["lora_rank"].figure is not None
    ylabels = [ax.get_ylabel() for ax in plots["lora_rank"].figure.axes]
    assert ylabels == ["trainable params (%)", "step time p50 (ms)", "peak memory (MiB)"]
    assert plots["train_vs_inference"].figure is not None
    assert "vit: eager, bs 8" in plots["train_vs_inference"].note
    assert (tmp_path / "out" / "plots" / "lora_rank.png").is_file()
    assert (tmp_path / "out" / "plots" / "train_vs_inference.png").is_file()
    # the LoRA rank panel reads trainable % from trainable_params / params
    assert sorted(result.current.dropna(subset=["lora_rank"])["trainable_pct"].unique()) == [4.0, 16.0, 64.0]


def test_two_runs_and_two_machines_through_the_cli(tmp_path, capsys):
    a = write_run(tmp_path / "a.json", [cell("m", "eager", 1, 10.0), cell("m", "bf16", 1, 5.0, precision="bf16")],
                  hardware_key="hw-1", when="2026-01-01T00:00:00")
    b = write_run(tmp_path / "b.json", [cell("m", "eager", 1, 13.0), cell("m", "bf16", 1, 5.0, precision="bf16")],
                  hardware_key="hw-1", when="2026-01-02T00:00:00")
    c = write_run(tmp_path / "c.json", [cell("m", "eager", 1, 3.0), cell("m", "bf16", 1, 1.0, precision="bf16")],
                  hardware_key="hw-2", when="2026-01-03T00:00:00")
    out = tmp_path / "out"
    assert main(["report", str(a), str(b), str(c), "--out", str(out), "--threshold", "0.05"]) == 0
    stdout = capsys.readouterr().out
    assert "4 cells on 2 hardware key(s) from 3 run(s)" in stdout
    # hw-2 has one run: nothing to compare; hw-1's newest run is judged by the gate against the other
    assert "hw-1: vbench gate: 0 regressed, 0 inconclusive, 0 improved, 8 unchanged, 2 not gated" in stdout
    page = (out / "report.html").read_text()
    assert "Baseline vs current" in page and '<tr class="unchanged">' in page
    assert (out / "plots" / "comparison.png").is_file()
    md = (out / "summary.md").read_text()
    assert "### hw-1" in md and "### hw-2" in md
    # +30% against one baseline session is within what one session can tell apart (the gate says so)
    assert ("| inference m-eager-bs1-64px | latency_median | 10.000 ms | 13.000 ms | +30.0% | >120.7% | 0.069 | "
            "unchanged | spread assumed (10%): fewer than two baseline sessions; noisy: only a change above 121% "
            "could show here |") in md
    verdicts = pd.read_csv(out / "verdicts.csv")
    assert set(verdicts["hardware_key"]) == {"hw-1"} and set(verdicts["current_run"]) == {"b"}


def test_pytest_benchmark_histogram_works_on_vbench_json(tmp_path):
    pytest.importorskip("pygal", reason="pygal is in vbench's report extra")
    prefix = tmp_path / "hist"
    code = "import sys; from pytest_benchmark.cli import main; sys.argv[0] = 'pytest-benchmark'; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", code, "compare", str(SMOKE), f"--histogram={prefix}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    svgs = sorted(tmp_path.glob("hist*.svg"))
    assert len(svgs) == 10  # one per group: 5 models x 2 batch sizes
    assert "<svg" in svgs[0].read_text()[:500]


def test_mfu_and_hardware_side_by_side(tmp_path):
    from vbench.report import build_report, load_runs
    from vbench.report.plots import pareto_front

    runs = [
        write_run(tmp_path / f"{hw}.json", [
            cell("a", "eager", 1, 2.0 * k, gmacs=1.0, mfu=0.1 / k), cell("a", "amp_bf16", 1, 1.0 * k, gmacs=1.0,
                                                                         precision="bf16", mfu=0.2 / k),
            cell("b", "eager", 1, 3.0 * k, gmacs=4.0, mfu=0.3 / k),
        ], hardware_key=hw, when=f"2026-01-0{k}T00:00:00")
        for k, hw in ((1, "gpu-fast"), (2, "gpu-slow"))
    ]
    result = build_report(load_runs(runs))
    plots = {p.name: p for p in result.plots}
    assert plots["mfu"].figure is not None
    # one heatmap panel per (hardware key, batch size) plus the colour bar: never pooled
    assert len(plots["speedup_heatmap"].figure.axes) == 3
    assert len(plots["latency_vs_gmacs"].figure.axes) == 2
    fast = result.current[result.current["hardware_key"] == "gpu-fast"]
    front = fast.loc[pareto_front(fast)]
    # a/amp_bf16 (1 GMAC in 1 ms) and b/eager (4 GMACs in 3 ms) are on it; a/eager (1 GMAC, 2 ms) is not
    assert sorted(zip(front["model"], front["optimization"])) == [("a", "amp_bf16"), ("b", "eager")]


def test_a_run_on_a_busy_machine_is_flagged_in_the_summary():
    import pandas as pd

    from vbench.report.tables import contention_warnings

    busy = pd.DataFrame({"hardware_key": ["k", "k"], "load_avg_1m": [4.4, 4.1], "threads": [1, 1]})
    quiet = pd.DataFrame({"hardware_key": ["k", "k"], "load_avg_1m": [1.1, 1.3], "threads": [1, 1]})
    (line,) = contention_warnings(busy)
    assert line.startswith("k: the cells ran on a busy machine (median load 4.2")
    assert contention_warnings(quiet) == [] and contention_warnings(pd.DataFrame({"hardware_key": ["k"]})) == []
