"""The gate study's tools: the injected slowdown (real extra work, same output) and the analysis."""

import json

import pytest
import torch

from vbench.models import create_model


def _study_module(name):
    """A module of bench/study (not a package: the plugin is loaded with -p from that folder)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "study" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"study_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _inject_module():
    return _study_module("inject_slowdown")


def _analyze_module():
    return _study_module("analyze")


@pytest.mark.parametrize("text", ["resnet", "vit:block", "resnet:twice", ""])
def test_injection_spec_is_checked(text):
    with pytest.raises(ValueError, match="VBENCH_INJECT"):
        _inject_module().parse_injection(text)


# extra calls of the first block's and of the second stage's first convolution per forward
@pytest.mark.parametrize("unit, extra1, extra2", [
    ("conv", 1, 0), ("block", 1, 0), ("stage", 1, 0), ("stage_x2", 2, 0), ("block_pair", 1, 1), ("second_stage", 0, 1),
    ("two_stages", 1, 1), ("all", 1, 1), ("all_x4", 4, 4)])
def test_injected_work_runs_and_leaves_the_output_unchanged(monkeypatch, unit, extra1, extra2):
    from timm.models.resnet import ResNet

    monkeypatch.setattr(ResNet, "forward_features", ResNet.forward_features)  # restored after the test
    model = create_model("resnet18", img_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    calls = {"layer1": 0, "layer2": 0}
    for name in calls:
        getattr(model, name)[0].conv1.register_forward_hook(lambda *a, name=name: calls.__setitem__(name, calls[name] + 1))
    with torch.no_grad():
        before = model(x)
        calls.update(layer1=0, layer2=0)
        _inject_module().install("resnet", unit)
        after = model(x)
    assert torch.equal(before, after)
    assert calls == {"layer1": 1 + extra1, "layer2": 1 + extra2}  # the real forward and the extra work


def test_clopper_pearson_matches_the_known_bound():
    low, high = _analyze_module().clopper_pearson(0, 20)
    assert low == 0.0 and high == pytest.approx(0.168, abs=0.001)  # "0/20 is at most 17% at 95%"


def test_analysis_counts_red_runs_and_caught_cells(tmp_path):
    analyze = _analyze_module()
    (tmp_path / "verdicts").mkdir()
    lines = []
    for index in range(1, 9):
        inject = "resnet:stage" if index == 8 else None
        rows = [{"cell": "inference resnet18-eager-bs1-64px", "metric": "norm_time", "tolerance": 0.05,
                 "verdict": "regressed" if inject else "unchanged", "change": 0.2 if inject else 0.01, "can_catch": 0.1},
                {"cell": "inference vit_tiny-eager-bs1-64px", "metric": "norm_time", "tolerance": 0.05,
                 "verdict": "regressed" if index == 7 else "unchanged", "change": 0.3 if index == 7 else 0.0,
                 "can_catch": 0.1}]
        verdict = {"baseline_sessions": min(index - 1, 3), "checks": 2, "rows": rows}
        (tmp_path / "verdicts" / f"{index}.json").write_text(json.dumps(verdict))
        lines.append(json.dumps({"index": index, "inject": inject, "exit": 1 if index in (7, 8) else 0, "wall_s": 1.0,
                                 "verdict": f"verdicts/{index}.json"}))
    (tmp_path / "sessions.jsonl").write_text("\n".join(lines) + "\n")
    summary = analyze.summarise(analyze.load_trials(tmp_path, 3), 3, "resnet")
    unchanged = summary["unchanged"]
    assert unchanged["trials"] == 4 and unchanged["red"] == 1  # sessions 4..7
    assert unchanged["non_overlapping_trials"] == [4]  # 5, 6, 7 reuse sessions of trial 4
    assert unchanged["regressed"] == [(7, "inference vit_tiny-eager-bs1-64px", "norm_time", 0.3)]
    (run,) = summary["injected"]["resnet:stage"]
    assert run["caught"] == 1 and run["family_cells"] == 1 and run["other_family_regressed"] == []
    assert "| resnet:stage | 8 | 1/1" in analyze.markdown(summary)
    assert summary["injected_by_change"] == {">= +17.5%": "1/1 (95% CI 2.5% .. 100.0%)"}  # measured +20%
    # the unit's own effect per cell, measured apart by vbench ab, bins the same cells again
    ab = tmp_path / "ab.json"
    ab.write_text(json.dumps({"rows": [{"cell": "inference resnet18-eager-bs1-64px", "metric": "norm_time", "change": 0.09},
                                       {"cell": "inference resnet18-eager-bs1-64px", "metric": "latency_median", "change": 0.5}]}))
    summary = analyze.summarise(analyze.load_trials(tmp_path, 3), 3, "resnet", analyze.load_effects([f"resnet:stage={ab}"]))
    assert summary["injected_by_effect"] == {"+7.5% .. +12.5%": "1/1 (95% CI 2.5% .. 100.0%)"}
    assert "vbench ab, --effect" in analyze.markdown(summary)


def test_sessions_judged_before_the_gate_recorded_early_leavers_get_them_inferred():
    from vbench.compare import CellRecord, Run

    def cell(name, pairs):
        pair = {"base": {"samples_s": [0.01] * 5}, "current": {"samples_s": [0.01] * 5}}
        extra = {"mode": "inference", "gate_confirm": {"against": "abc", "planned": 8, "pairs": [pair] * pairs}}
        return CellRecord(f"t.py::t[{name}]", f"t[{name}]", extra, [0.01] * 5)

    run = Run("s", "key")
    run.cells = {c.fullname: c for c in (cell("left", 1), cell("stayed", 3), cell("also", 3))}
    run.cells["t.py::t[plain]"] = CellRecord("t.py::t[plain]", "t[plain]", {"mode": "inference"}, [0.01] * 5)
    _analyze_module().mark_early_leavers(run)
    assert run.cells["t.py::t[left]"].confirm_decided == 1
    assert run.cells["t.py::t[stayed]"].confirm_decided == 0 and run.cells["t.py::t[also]"].confirm_decided == 0
    assert "gate_confirm" not in run.cells["t.py::t[plain]"].extra


def test_archived_study_finds_its_non_overlapping_trials():
    # The committed AMD study: its live verdicts name the stored JSON, its archive holds .json.gz
    # copies; both are one session, so trial 21 (baselines 11-20) overlaps trial 11 and 22 does not.
    from pathlib import Path

    analyze = _analyze_module()
    folder = Path(__file__).resolve().parent.parent / "fixtures" / "gate" / "study" / "2026-12-06-aa"
    summary = analyze.summarise(analyze.load_trials(folder, 10), 10, "resnet")
    assert summary["unchanged"]["trials"] == 20
    assert summary["unchanged"]["non_overlapping_trials"] == [11, 22]
