"""The correctness guard: tolerances per precision class, and real sessions where a wrong cell fails."""

from __future__ import annotations

import pytest
import torch
from backends_support import bk_project, load_cells  # noqa: F401 - fixture

from vbench.correctness import (
    DEFAULT_TOLERANCES,
    Tolerance,
    check_agreement,
    compare_outputs,
    parse_tolerances,
)
from vbench.errors import VBenchError
from vbench.optimizations.plan import PRECISION_ORDER
from vbench.settings import resolve_settings


def test_every_precision_class_has_a_default_tolerance_ordered_by_exactness():
    assert set(DEFAULT_TOLERANCES) == set(PRECISION_ORDER)
    bounds = [DEFAULT_TOLERANCES[p].max_rel_err for p in ("fp32", "tf32", "bf16", "int8")]
    assert bounds == sorted(bounds)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", DEFAULT_TOLERANCES),
        ("bf16=0.08", {**DEFAULT_TOLERANCES, "bf16": Tolerance(0.08, 0.08)}),
        ("int8.min_top1=0.9, fp32.mean_rel_err=1e-5",
         {**DEFAULT_TOLERANCES, "int8": Tolerance(0.15, 0.15, 0.9), "fp32": Tolerance(1e-3, 1e-5)}),
        ("*=0.5", {name: Tolerance(0.5, 0.5) for name in DEFAULT_TOLERANCES}),
        ("off", None),
    ],
)
def test_parse_tolerances(text, expected):
    assert parse_tolerances(text) == expected


@pytest.mark.parametrize("text", ["bf17=0.1", "bf16", "bf16=lots", "bf16.max=0.1", "int8.min_top1=2"])
def test_bad_tolerance_is_a_one_line_error(text):
    with pytest.raises(VBenchError, match="tolerance|top-1"):
        parse_tolerances(text)


def test_tolerance_option_resolves_into_settings():
    assert resolve_settings({"tolerance": "bf16=0.1"}).tolerances["bf16"] == Tolerance(0.1, 0.1)
    assert resolve_settings({}).tolerances == DEFAULT_TOLERANCES
    assert resolve_settings({"tolerance": "off"}).tolerances is None


def test_clear_margin_top1_counts_only_samples_a_tolerated_error_cannot_flip():
    reference = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.99, 0.0]])  # clear, near-tie
    flipped_tie = torch.tensor([[1.0, 0.0, 0.0], [0.99, 1.0, 0.0]])
    agreement = compare_outputs(flipped_tie, reference, Tolerance(0.05, 0.05))
    assert agreement.top1_agreement == 0.5
    assert agreement.top1_clear_samples == 1 and agreement.top1_agreement_clear == 1.0
    assert agreement.max_rel_err == pytest.approx(0.01)
    assert check_agreement(agreement, "bf16", {"bf16": Tolerance(0.05, 0.05)}) is None


def test_failure_message_has_the_numbers():
    reference = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    agreement = compare_outputs(reference * 1.3, reference, DEFAULT_TOLERANCES["fp32"])
    message = check_agreement(agreement, "fp32", DEFAULT_TOLERANCES)
    assert "max_rel_err 0.3 > 0.001" in message and "mean_rel_err 0.3 > 0.001" in message
    assert "top1_agreement 1.000" in message and "--vb-tolerance fp32=" in message
    assert check_agreement(agreement, "fp32", None) is None  # the guard switched off
    nan = compare_outputs(torch.full((2, 2), float("nan")), reference)
    assert "max_rel_err nan" in check_agreement(nan, "int8", DEFAULT_TOLERANCES)


def test_guard_fails_a_perturbing_optimization_and_passes_real_ones(bk_project, pytester):
    result = bk_project(
        "--vb-models", "vit_tiny_patch16_224", "--vb-img-sizes", "32", "--vb-batch-sizes", "4",
        "--vb-opts", "eager,perturb_weights,bf16,int8_dynamic,export", "--benchmark-json", "out.json",
    )
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines([
        "correctness guard: vit_tiny_patch16_224-perturb_weights-bs4-32px: outside the fp32 tolerance vs fp32 eager: "
        "max_rel_err * > 0.001; mean_rel_err * > 0.001 (top1_agreement *",
        "*vbench correctness guard failures*",
        "vit_tiny_patch16_224-perturb_weights-bs4-32px: outside the fp32 tolerance*",
    ])
    cells = load_cells(pytester)
    assert "vit_tiny_patch16_224-perturb_weights-bs4-32px" not in cells  # a wrong answer is not saved
    for cell_id, info in cells.items():
        assert info["correctness"] == "ok", cell_id
        assert info["max_rel_err"] <= info["tolerance_max_rel_err"]
        assert 0 <= info["top1_agreement"] <= 1
    assert cells["vit_tiny_patch16_224-int8_dynamic-bs4-32px"]["precision"] == "int8"
    assert cells["vit_tiny_patch16_224-int8_dynamic-bs4-32px"]["max_rel_err"] > 1e-3  # really quantized
    assert cells["vit_tiny_patch16_224-export-bs4-32px"]["max_rel_err"] < 1e-4


def test_tolerance_off_records_without_failing(bk_project, pytester):
    result = bk_project("--vb-models", "tiny_net", "--vb-opts", "perturb_weights", "--vb-batch-sizes", "2",
                        "--vb-img-sizes", "16", "--vb-tolerance", "off", "--benchmark-json", "out.json")
    result.assert_outcomes(passed=1)
    info = load_cells(pytester)["tiny_net-perturb_weights-bs2-16px"]
    assert info["correctness"].startswith("not checked") and info["tolerance_max_rel_err"] is None
    assert info["max_rel_err"] > 1e-3


def test_loosened_tolerance_lets_the_cell_pass(bk_project):
    bk_project("--vb-models", "tiny_net", "--vb-opts", "perturb_weights", "--vb-batch-sizes", "2",
               "--vb-img-sizes", "16", "--vb-tolerance", "fp32=0.5").assert_outcomes(passed=1)
    result = bk_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-tolerance", "fp33=1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vb-tolerance item 'fp33=1'*"])
