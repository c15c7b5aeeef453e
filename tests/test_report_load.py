"""Loading saved runs into the report frame: columns, units, blanks for older schemas, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from report_json import cell, write_run

from vbench.cli import main
from vbench.errors import ExitStatus, VBenchError
from vbench.report import COLUMN_UNITS, load_frame
from vbench.schema import FIELDS, UNITS

SMOKE = Path(__file__).resolve().parent.parent / "fixtures" / "report" / "smoke-cpu-2026-11-22.json"


def test_real_smoke_run_has_every_schema_column_with_units():
    frame = load_frame([SMOKE])
    assert len(frame) == 51
    assert set(FIELDS) <= set(frame.columns)
    units = frame.attrs["units"]
    for name, unit in UNITS.items():
        assert units[name] == unit
    assert units["samples_per_s"] == "samples/s"
    assert units["latency_ms_p50"] == "ms/batch"
    assert units["gmacs"] == "GMAC/sample"
    assert units["mem_mb"].startswith("MiB")
    assert frame["hardware_key"].unique().tolist() == ["amd-epyc-2t-torch2.14.1"]
    for col in ("samples_per_s", "latency_ms_p50", "gmacs", "median_s", "q1_s", "q3_s", "mem_mb"):
        assert pd.api.types.is_float_dtype(frame[col]), col
        assert frame[col].notna().all(), col
    assert frame["mfu"].isna().all()  # CPU: unknown peak, blank rather than guessed
    assert frame["peak_mem_allocated_mb"].isna().all()  # CUDA memory on a CPU run
    assert (frame["mem_mb"] == frame["peak_rss_mb"]).all()
    assert all(isinstance(s, list) and len(s) == r for s, r in zip(frame["samples_s"], frame["stats_rounds"]))
    # samples/s is batch / median time: the stats and the extra_info agree.
    assert ((frame["batch_size"] / frame["median_s"]) / frame["samples_per_s"] - 1).abs().max() < 1e-9


def test_older_schema_reports_blanks_not_zeros(tmp_path):
    old = write_run(tmp_path / "old.json", [cell("m", "eager", 1, 10.0)],
                    drop=("mfu", "gmacs", "gflops", "top1_agreement", "max_rel_err", "cold_start_s"))
    frame = load_frame([old])
    for col in ("mfu", "gmacs", "top1_agreement", "max_rel_err", "cold_start_s"):
        assert col in frame and frame[col].isna().all(), col
    assert frame["samples_per_s"].iloc[0] == pytest.approx(100.0)


def test_later_fields_come_along_and_trainable_pct_is_derived(tmp_path):
    run = write_run(tmp_path / "lora.json",
                    [cell("m", "lora_r8", 8, 10.0, mode="train", lora_rank=8, trainable_params=50)])
    frame = load_frame([run])
    assert frame["lora_rank"].iloc[0] == 8
    assert frame["trainable_pct"].iloc[0] == pytest.approx(5.0)
    assert COLUMN_UNITS["trainable_pct"] == "% of params"


def test_storage_folder_is_searched_recursively(tmp_path):
    sub = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    sub.mkdir(parents=True)
    write_run(sub / "0001_a.json", [cell("m", "eager", 1, 10.0)], when="2026-01-01T00:00:00")
    write_run(sub / "0002_b.json", [cell("m", "eager", 1, 12.0)], when="2026-01-02T00:00:00")
    frame = load_frame([tmp_path / ".benchmarks"])
    assert sorted(frame["run"]) == ["0001_a", "0002_b"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("{not json", "is not valid JSON"),
        (json.dumps({"results": [1, 2]}), "not pytest-benchmark JSON"),
        (json.dumps({"machine_info": {}, "benchmarks": [{"name": "t", "extra_info": {}}]}),
         "not pytest-benchmark JSON"),
        (json.dumps({"machine_info": {}, "benchmarks": []}), "empty run"),
        (json.dumps({"machine_info": {}, "benchmarks": [{"fullname": "t.py::t", "extra_info": {}, "stats": {}}]}),
         "without vbench cells"),
    ],
    ids=["empty-file", "broken", "other-tool", "no-stats", "empty-run", "plain-pytest-benchmark"],
)
def test_bad_input_is_one_line_error(tmp_path, capsys, content, message):
    # the gate's reader (vbench.compare.runs) reads the file; the report adds the vbench-cell checks
    path = tmp_path / "run.json"
    path.write_text(content)
    with pytest.raises(VBenchError, match=message):
        load_frame([path])
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == ExitStatus.USAGE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err


def test_the_report_reads_what_the_gate_reads():
    from vbench.compare import load_run
    from vbench.report import load_runs

    (run,) = load_runs([SMOKE])
    gate_run = load_run(SMOKE)
    assert run.cells.keys() == gate_run.cells.keys() and run.label == SMOKE.stem
    assert run.datetime and run.hardware_key == gate_run.hardware_key
    frame = load_frame([SMOKE])
    assert frame["fullname"].tolist() == list(gate_run.cells)
    assert frame["samples_s"].tolist() == [c.samples for c in gate_run.cells.values()]


def test_missing_path_and_empty_folder(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.json")]) == ExitStatus.USAGE_ERROR
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == ExitStatus.USAGE_ERROR
    assert "holds no .json run" in capsys.readouterr().err
