"""The machine probe: fixed work, the same every time, independent of the model under test."""

import torch

from vbench.metrics.probe import ProbeSpec, machine_probe


def test_probe_is_fixed_work_with_a_fixed_result():
    first, second = machine_probe(torch.device("cpu")), machine_probe(torch.device("cpu"))
    out = first()
    assert out.shape == (8, 16, 16, 16)
    assert torch.equal(out, second()) and torch.equal(out, first())
    assert out.abs().sum() > 0  # relu'd convolutions that did not collapse to zero


def test_probe_size_follows_its_spec():
    small = machine_probe(torch.device("cpu"), ProbeSpec(channels=4, size=8, batch=2, layers=2))
    assert small().shape == (2, 4, 8, 8)
    other_seed = machine_probe(torch.device("cpu"), ProbeSpec(seed=7))()
    assert not torch.equal(other_seed, machine_probe(torch.device("cpu"))())
