"""Data cells and accuracy over a generated JPEG ImageFolder (real files, real DataLoader workers)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from vbench.data import DataSpec, build_dataset, build_loader, epoch_split
from vbench.errors import VBenchError
from vbench.settings import resolve_settings


@pytest.fixture
def image_folder(tmp_path):
    """Two classes of small JPEGs (5 cats, 7 dogs) and one corrupt file among the dogs."""
    rng = np.random.default_rng(0)
    for name, count in (("cat", 5), ("dog", 7)):
        (tmp_path / "images" / name).mkdir(parents=True)
        for i in range(count):
            Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(tmp_path / "images" / name / f"{i}.jpg")
    (tmp_path / "images" / "dog" / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return tmp_path / "images"


def test_corrupt_images_are_skipped_and_counted(image_folder):
    spec = DataSpec(root=image_folder, workers=0)
    loader = build_loader(build_dataset(spec, 32, train=False), spec, 4, torch.device("cpu"), shuffle=False)
    batches = list(loader)
    assert sum(len(images) for images, _, _ in batches) == 12
    assert sum(skipped for _, _, skipped in batches) == 1
    assert batches[0][0].shape == (4, 3, 32, 32) and batches[0][0].dtype == torch.float32


def test_epoch_split_accounts_for_the_epoch(image_folder):
    spec = DataSpec(root=image_folder, workers=1)
    loader = build_loader(build_dataset(spec, 32, train=True), spec, 4, torch.device("cpu"), shuffle=True)
    seen = []
    split = epoch_split(loader, lambda images, labels: seen.append(len(images)), torch.device("cpu"),
                        __import__("time").perf_counter)
    assert split.images == sum(seen) >= 8 and split.skipped_images <= 1
    parts = split.data_wait_s + split.h2d_s + split.compute_s
    assert parts <= split.epoch_s and split.first_batch_s <= split.epoch_s


def test_batch_size_one_is_not_taken_for_unreadable_data():
    # single-image batches are not trained on (batch norm), but they are readable: no "none could be read"
    spec = DataSpec(root=None, workers=0)
    loader = build_loader(build_dataset(spec, 16, train=True), spec, 1, torch.device("cpu"), shuffle=True)
    split = epoch_split(loader, lambda images, labels: None, torch.device("cpu"), __import__("time").perf_counter)
    assert split.images == 0 and split.skipped_images == 0


@pytest.mark.parametrize("setup, message", [
    ("empty", "holds no images|Couldn't find any class folder"),
    ("missing", "is not a folder"),
])
def test_empty_or_missing_folders_are_one_line_errors(tmp_path, setup, message):
    root = tmp_path / "data"
    if setup == "empty":
        root.mkdir()
        with pytest.raises(VBenchError, match=message):
            build_dataset(DataSpec(root=root), 32, train=True)
    else:
        with pytest.raises(VBenchError, match=message):
            resolve_settings({"data": str(root)})


def test_data_cell_and_accuracy_through_pytest(vb_project, pytester, image_folder, tmp_path):
    pytester.makepyfile(test_more_cells="""
import pytest

@pytest.mark.vbench(mode="data")
def test_data(vb_cell, vb_measure):
    vb_measure(vb_cell)
""")
    # Weights that always rank class 0 ("cat") first and class 1 ("dog") second: top-1 is the share of
    # cats, top-5 holds both classes.
    from vbench.models import create_model

    model = create_model("resnet18")
    with torch.no_grad():
        model.fc.bias.zero_()
        model.fc.bias[0], model.fc.bias[1] = 1e4, 5e3
    torch.save(model.state_dict(), tmp_path / "resnet18.pth")
    result = vb_project("--vb-models", "resnet18", "--vb-opts", "eager", "--vb-batch-sizes", "4",
                        "--vb-img-sizes", "32", "--vb-modes", "inference,data", "--vb-data", str(image_folder),
                        "--vb-data-workers", "1", "--vb-weights", f"resnet18={tmp_path / 'resnet18.pth'}",
                        "--benchmark-json", "out.json")
    result.assert_outcomes(passed=2)
    cells = {b["extra_info"]["mode"]: b["extra_info"] for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]}
    inference, data = cells["inference"], cells["data"]
    assert inference["accuracy_top1"] == pytest.approx(5 / 12) and inference["accuracy_top5"] == 1.0
    assert inference["accuracy_images"] == 12 and inference["data_skipped_images"] == 1
    assert data["data_images_per_s"] > 0 and data["epoch_images"] >= 8 and data["data_source"] == str(image_folder)
    # a round is BATCHES_PER_ROUND batches (one batch was bimodal: prefetched or not)
    bench = next(b for b in json.loads((pytester.path / "out.json").read_text())["benchmarks"]
                 if b["extra_info"]["mode"] == "data")
    assert data["data_batches_per_round"] == 16
    # the corrupt image is not counted as delivered: the rate is scaled by the epoch's readable share
    usable = data["epoch_images"] / (data["epoch_images"] + data["data_skipped_images"])
    assert data["data_images_per_s"] == pytest.approx(16 * 4 / bench["stats"]["median"] * usable)
    for field in ("epoch_s", "time_to_first_batch_s", "epoch_data_wait_s", "epoch_h2d_s", "epoch_compute_s"):
        assert data[field] >= 0
    assert data["tflops_achieved"] is None


def test_a_folder_of_only_unreadable_images_is_an_error_not_a_rate(vb_project, pytester, tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / "bad" / name).mkdir(parents=True)
        for i in range(4):
            (tmp_path / "bad" / name / f"{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    pytester.makepyfile(test_more_cells="""
import pytest

@pytest.mark.vbench(mode="data")
def test_data(vb_cell, vb_measure):
    vb_measure(vb_cell)
""")
    result = vb_project("-k", "test_data", "--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "2",
                        "--vb-img-sizes", "16", "--vb-modes", "data", "--vb-data", str(tmp_path / "bad"),
                        "--vb-data-workers", "0", "--benchmark-json", "out.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # bad input, not a regression
    result.stdout.fnmatch_lines(["*none of its 8 images could be read (8 unreadable: corrupt or not images)*"])
    saved = pytester.path / "out.json"
    cells = json.loads(saved.read_text())["benchmarks"] if saved.exists() else []
    assert not any(b["extra_info"].get("data_images_per_s") for b in cells)  # no invented rate saved


def test_accuracy_is_null_without_weights_or_data(vb_project, pytester):
    vb_project("--vb-models", "tiny_net", "--vb-opts", "eager", "--vb-batch-sizes", "2", "--vb-img-sizes", "16",
               "--benchmark-json", "out.json").assert_outcomes(passed=1)
    info = json.loads((pytester.path / "out.json").read_text())["benchmarks"][0]["extra_info"]
    assert info["accuracy_top1"] is None and info["accuracy_top5"] is None
