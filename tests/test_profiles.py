"""Profiles, matrix files, overrides and cell expansion."""

from __future__ import annotations

import pytest

from vbench.errors import VBenchError
from vbench.profiles import PROFILES, AxisOverrides, Cell, MatrixEntry, Profile, expand_cells, load_matrix, parse_int_list


def _expand(profile, overrides=AxisOverrides(), opts=("eager", "bf16", "compile")):
    return expand_cells(profile, overrides, all_optimizations=list(opts), expand_models=lambda names: names,
                        default_img_size=lambda model: 224)


def test_cell_id_is_stable():
    assert Cell("inference", "vit_base_patch16_224", 224, "amp_bf16", 32).id == "vit_base_patch16_224-amp_bf16-bs32-224px"


def test_cells_of_one_model_and_optimization_are_contiguous_for_model_reuse():
    profile = Profile("p", (
        MatrixEntry(("a", "b"), ("eager", "bf16"), (8, 1)),
        MatrixEntry(("a",), ("eager",), (32,)),
    ))
    ids = [c.id for c in _expand(profile)]
    assert ids == [
        "a-eager-bs1-224px", "a-eager-bs8-224px", "a-eager-bs32-224px", "a-bf16-bs1-224px", "a-bf16-bs8-224px",
        "b-eager-bs1-224px", "b-eager-bs8-224px", "b-bf16-bs1-224px", "b-bf16-bs8-224px",
    ]


def test_star_means_every_optimization_and_overrides_replace_axes():
    profile = Profile("p", (MatrixEntry(("a",), ("*",), (1,), (None,)),))
    assert [c.optimization for c in _expand(profile)] == ["eager", "bf16", "compile"]
    cells = _expand(profile, AxisOverrides(optimizations=("bf16",), batch_sizes=(2, 4), img_sizes=(64,)))
    assert [c.id for c in cells] == ["a-bf16-bs2-64px", "a-bf16-bs4-64px"]


def test_duplicates_across_entries_collapse():
    profile = Profile("p", (MatrixEntry(("a",), ("eager",), (1,)), MatrixEntry(("a",), ("eager",), (1,))))
    assert len(_expand(profile)) == 1


def test_builtin_profiles_have_the_documented_axes():
    smoke = PROFILES["smoke"]
    assert len(smoke.entries[0].models) == 5 and set(smoke.entries[0].batch_sizes) == {1, 8}
    assert len(smoke.entries[0].optimizations) >= 5
    standard = PROFILES["standard"].entries[0]
    assert standard.batch_sizes == (1, 8, 32, 128) and standard.img_sizes == (224,)
    full = PROFILES["full"]
    assert max(full.entries[0].batch_sizes) == 256 and full.entries[1].img_sizes == (160, 224, 288, 384)


@pytest.mark.parametrize("text, message", [
    ("1,0", "batch sizes must be positive integers, got 0"),
    ("8,x", "must be comma-separated positive integers, got 'x'"),
    ("1.5", "got '1.5'"),
])
def test_parse_int_list_rejects_non_positive_and_non_integers(text, message):
    with pytest.raises(VBenchError, match=message):
        parse_int_list(text, "batch sizes")


def test_matrix_file_with_defaults(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("defaults:\n  img_sizes: [32]\nentries:\n  - {models: [resnet18], optimizations: [eager], "
                    "batch_sizes: [1, 2]}\n  - {models: resnet18, optimizations: bf16, batch_sizes: 4, img_sizes: [48]}\n")
    profile = load_matrix(path)
    assert profile.entries[0].img_sizes == (32,) and profile.entries[1].img_sizes == (48,)
    assert [c.id for c in _expand(profile)] == [
        "resnet18-eager-bs1-32px", "resnet18-eager-bs2-32px", "resnet18-bf16-bs4-48px"]


@pytest.mark.parametrize("text, message", [
    ("entries: []", "needs a non-empty 'entries:' list"),
    ("- a\n- b", "needs a non-empty 'entries:' list"),
    ("entries:\n  - {models: [a], optimizations: [eager]}", "missing key 'batch_sizes'"),
    ("entries:\n  - {models: [a], optimizations: [eager], batch_sizes: [0]}", "entry 1: batch sizes must be positive"),
    ("entries:\n  - {models: [a], optimizations: [eager], batch_sizes: [1], modes: [inferenc]}", "unknown mode"),
    ("entries:\n  - [a, b]", "an entry must be a mapping"),
    ("entrys:\n  - {}", "needs a non-empty 'entries:' list"),
    ("entries: [{models: [a], optimizations: [e], batch_sizes: [1]}]\nextra: 1", "unknown top-level key 'extra'"),
    ("entries: [", "is not valid YAML at line"),
    ("entries: !!python/object/apply:os.system ['echo pwned']",
     r"at line 1: tag !!python/object/apply:os.system is not plain data \(matrix files are read with yaml.safe_load"),
])
def test_malformed_matrix_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(VBenchError, match=message) as info:
        load_matrix(path)
    assert "\n" not in str(info.value)


def test_missing_matrix_file(tmp_path):
    with pytest.raises(VBenchError, match="cannot read matrix file"):
        load_matrix(tmp_path / "nope.yaml")


def test_example_matrix_in_fixtures_is_valid():
    from pathlib import Path

    profile = load_matrix(Path(__file__).parent.parent / "fixtures" / "matrix_example.yaml")
    assert profile.entries


def test_modes_override_selects_entries_instead_of_converting_them():
    profile = Profile("p", (
        MatrixEntry(("a",), ("bf16",), (1,), (None,), ("inference",)),
        MatrixEntry(("a",), ("eager",), (8,), (None,), ("train",)),
    ))
    assert [(c.mode, c.id) for c in _expand(profile, AxisOverrides(modes=("train",)))] == [("train", "a-eager-bs8-224px")]
    assert len(_expand(profile, AxisOverrides(modes=("inference", "train")))) == 2
    assert _expand(profile, AxisOverrides(modes=("data",))) == []
