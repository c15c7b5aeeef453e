"""Model registry: timm names, user factories, seeds, local weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vbench.errors import UnknownNameError, VBenchError
from vbench.models import MODELS, create_model, list_models, load_weights, register_model, resolve_model


@pytest.fixture
def registered():
    names = []

    def register(name, **kwargs):
        names.append(name)
        return register_model(name=name, **kwargs)

    yield register
    for name in names:
        MODELS.remove(name)


def test_timm_models_resolve_with_family_and_default_size():
    families = {name: resolve_model(name).family for name in (
        "vit_base_patch16_224", "deit_small_patch16_224", "swin_tiny_patch4_window7_224", "resnet50", "densenet121")}
    assert families == {
        "vit_base_patch16_224": "vision_transformer",
        "deit_small_patch16_224": "deit",
        "swin_tiny_patch4_window7_224": "swin_transformer",
        "resnet50": "resnet",
        "densenet121": "densenet",
    }
    assert resolve_model("vit_base_patch16_384").default_img_size == 384


def test_transformers_take_the_image_size_and_cnns_ignore_it():
    vit = create_model("vit_tiny_patch16_224", img_size=64)
    assert vit(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    resnet = create_model("resnet18", img_size=64)
    assert resnet(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = (create_model("resnet18", seed=s) for s in (0, 0, 1))
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, c.fc.weight)


def test_register_model_decorator_and_fnmatch_listing(registered):
    @registered("vbtest_mlp", family="mlp", img_size=8)
    def factory(img_size, num_classes):
        return nn.Sequential(nn.Flatten(), nn.Linear(3 * img_size * img_size, num_classes))

    assert resolve_model("vbtest_mlp").family == "mlp"
    assert list_models("vbtest_*", include_timm=False) == ["vbtest_mlp"]
    assert create_model("vbtest_mlp")(torch.randn(2, 3, 8, 8)).shape == (2, 1000)
    with pytest.raises(VBenchError, match="already registered"):
        registered("vbtest_mlp")(factory)


def test_unknown_model_names_close_matches():
    with pytest.raises(UnknownNameError) as info:
        resolve_model("resnet5O")
    assert "resnet50" in info.value.suggestions
    assert str(info.value).startswith("unknown model 'resnet5O'; did you mean")


def test_local_weights_load_with_weights_only(tmp_path):
    source = create_model("resnet18", seed=3)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": source.state_dict()}, path)
    loaded = create_model("resnet18", seed=0, weights=path)
    assert torch.equal(loaded.fc.weight, source.fc.weight)


def _good_bytes(tmp_path) -> bytes:
    path = tmp_path / "good.pth"
    torch.save(create_model("resnet18").state_dict(), path)
    return path.read_bytes()


BAD_CHECKPOINTS = {  # name: (how the file is made, the one line it must give)
    "missing": (None, "file does not exist"),
    "empty": (lambda p, good: p.write_bytes(b""), "file is empty"),
    "junk": (lambda p, good: p.write_bytes(b"not a checkpoint" * 100), "not a PyTorch checkpoint"),
    "junk-pickle-memo": (lambda p, good: p.write_bytes(b"junk" * 100), "not a PyTorch checkpoint"),
    "truncated-half": (lambda p, good: p.write_bytes(good[: len(good) // 2]), "truncated or corrupt"),
    "truncated-tail": (lambda p, good: p.write_bytes(good[:-10]), "truncated or corrupt"),
    "truncated-head": (lambda p, good: p.write_bytes(good[:100]), "truncated or corrupt"),
    "bare-tensor": (lambda p, good: torch.save(torch.zeros(3), p), "holds a Tensor, not a state dict"),
    "list": (lambda p, good: torch.save([1, 2], p), "holds a list, not a state dict"),
    "empty-dict": (lambda p, good: torch.save({}, p), "holds an empty dict"),
    "not-tensors": (lambda p, good: torch.save({"state_dict": {"a": 1}}, p), "entry 'a' is not a tensor"),
    "whole-module": (lambda p, good: torch.save(create_model("resnet18"), p), "holds Python objects besides tensors"),
    "other-model": (lambda p, good: torch.save(create_model("resnet34").state_dict(), p),
                    "do not fit the model: 96 unexpected keys"),
    "other-classes": (lambda p, good: torch.save(create_model("resnet18", num_classes=10).state_dict(), p),
                      r"2 shape mismatches \(first: 'fc.weight'\) \(10, 512\) in the file, \(1000, 512\) in the model"),
}


@pytest.mark.parametrize("kind", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoints_are_one_line_errors_that_never_advise_unsafe_loading(kind, tmp_path):
    make, message = BAD_CHECKPOINTS[kind]
    path = tmp_path / f"{kind}.pth"
    if make is not None:
        make(path, _good_bytes(tmp_path))
    with pytest.raises(VBenchError, match=message) as info:
        load_weights(create_model("resnet18"), path)
    text = str(info.value)
    assert "\n" not in text and len(text) < 300, text
    assert "weights_only=False" not in text and "Errno" not in text, text


def test_a_corrupt_safetensors_file_is_one_line(tmp_path):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\xff" * 64)
    with pytest.raises(VBenchError, match="not a readable safetensors file"):
        load_weights(create_model("resnet18"), path)
