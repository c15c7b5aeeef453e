"""Graph breaks and recompiles counted from dynamo; profiler traces per cell."""

from __future__ import annotations

import json

import torch
from backends_support import bk_project, load_cells  # noqa: F401 - fixture

from vbench.metrics.fallbacks import DynamoDelta, DynamoWatch, fallback_fields, note_fallback, summary_line
from vbench.optimizations.plan import Executable
from vbench.metrics.trace import trace_file_name


def test_dynamo_watch_counts_graph_breaks_and_recompiles():
    def fn(x):
        y = x.sin()
        torch._dynamo.graph_break()
        return y.cos()

    compiled = torch.compile(fn, backend="eager", dynamic=False)
    watch = DynamoWatch.start()
    compiled(torch.ones(3))
    first = watch.delta()
    assert first.graph_breaks == 1 and first.recompiles == 0 and first.graph_break_reasons
    watch = DynamoWatch.start()
    compiled(torch.ones(3))  # cached: nothing new
    assert watch.delta() == DynamoDelta()
    compiled(torch.ones(5))  # a new static shape: both frames compile again
    again = watch.delta()
    assert again.recompiles == 2 and again.graph_breaks == 1
    assert any("size mismatch" in reason for reason in again.recompile_reasons)


def test_fallback_fields_are_flat_and_complete():
    exe = Executable(module=torch.nn.Identity())
    fields = fallback_fields(exe.notes, DynamoDelta())
    assert fields["fallback"] is False and fields["graph_breaks"] == 0 and fields["export_fallback"] is None
    assert summary_line(fields) is None
    note_fallback(exe, "provider_fallback", "CPUExecutionProvider")
    fields = fallback_fields(exe.notes, DynamoDelta(recompiles=1, recompile_reasons=["size mismatch"]))
    assert fields["fallback"] is True and fields["recompiles"] == 1
    assert summary_line(fields) == "1 recompile(s); provider fallback: CPUExecutionProvider"
    only_recompiles = fallback_fields({}, DynamoDelta(recompiles=1))
    assert only_recompiles["fallback"] is False  # a new batch size recompiling is counted, not a fallback


def test_graph_breaks_and_recompiles_reach_the_json_and_the_summary(bk_project, pytester):
    result = bk_project("--vb-models", "graph_break_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "1,2",
                        "--vb-opts", "eager,compile_eager", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=4)
    cells = load_cells(pytester)
    first, second = cells["graph_break_net-compile_eager-bs1-8px"], cells["graph_break_net-compile_eager-bs2-8px"]
    assert first["graph_breaks"] >= 1 and first["fallback"] is True
    assert second["recompiles"] >= 1  # same compiled module, new batch size
    assert cells["graph_break_net-eager-bs1-8px"]["graph_breaks"] == 0
    result.stdout.fnmatch_lines([
        "*vbench fallbacks and recompiles*",
        "graph_break_net-compile_eager-bs1-8px: * graph break(s) (*",
    ])


def test_trace_dir_writes_a_chrome_trace_per_cell_and_top_ops_on_request(bk_project, pytester):
    result = bk_project("--vb-models", "tiny_net", "--vb-img-sizes", "8", "--vb-batch-sizes", "1,2",
                        "--vb-opts", "eager,channels_last+amp_bf16", "--vb-trace", "traces", "--vb-trace-top", "5",
                        "-k", "bs2", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    cells = load_cells(pytester)
    for cell_id in ("tiny_net-eager-bs2-8px", "tiny_net-channels_last+amp_bf16-bs2-8px"):
        path = pytester.path / "traces" / trace_file_name(cell_id)
        assert cells[cell_id]["trace_file"] == str(pytester.path / "traces" / path.name) or path.is_file()
        events = json.loads(path.read_text())["traceEvents"]
        assert any(e.get("name") == f"vbench:{cell_id}" for e in events)
        assert any("conv" in str(e.get("name", "")) for e in events)
    assert sorted(p.name for p in (pytester.path / "traces").iterdir()) == [
        "tiny_net-channels_last+amp_bf16-bs2-8px.pt.trace.json", "tiny_net-eager-bs2-8px.pt.trace.json"]
    result.stdout.fnmatch_lines([
        "*vbench traces*",
        "tiny_net-eager-bs2-8px: *tiny_net-eager-bs2-8px.pt.trace.json",
        "tiny_net-eager-bs2-8px: top operators by self time",
        "*Name*Self CPU*",
    ])


def test_trace_file_names_are_safe():
    assert trace_file_name("a/b c-bs8") == "a_b_c-bs8.pt.trace.json"


def test_trace_options_resolve_and_bad_values_are_one_line_errors():
    from pathlib import Path

    import pytest

    from vbench.errors import VBenchError
    from vbench.settings import resolve_settings

    settings = resolve_settings({"trace": "traces", "trace_top": "3"})
    assert settings.trace_dir == Path("traces") and settings.trace_top == 3
    assert resolve_settings({}).trace_dir is None and resolve_settings({}).trace_top == 0
    with pytest.raises(VBenchError, match="--vb-trace-top must be a non-negative integer"):
        resolve_settings({"trace_top": "-1"})
