"""Shared test setup: real pytest sessions through pytester, real tiny models, no network."""

from __future__ import annotations

import os
import textwrap

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

pytest_plugins = ["pytester"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # End-to-end checks run whole benchmark sessions of this repository's bench/ (minutes): only
    # in CI's lane for them (VBENCH_E2E=1, see .ci/run), never in the README's test command.
    if os.environ.get("VBENCH_E2E") == "1":
        return
    skip = pytest.mark.skip(reason="end-to-end check: run with VBENCH_E2E=1 (CI's e2e lane)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)

# A user's conftest, as another repository would write it: its own models, registered by decorator.
USER_CONFTEST = textwrap.dedent(
    """
    import torch
    from torch import nn
    from vbench import register_model


    class TinyNet(nn.Module):
        def __init__(self, num_classes, oom_from_batch=None):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.bn = nn.BatchNorm2d(8)
            self.fc = nn.Linear(8, num_classes)
            self.oom_from_batch = oom_from_batch

        def forward(self, x):
            if self.oom_from_batch and x.shape[0] >= self.oom_from_batch:
                # A real allocator failure: 1 TiB per sample cannot be had on any test machine.
                torch.empty(x.shape[0] * 2**40, dtype=torch.uint8)
            return self.fc(self.bn(self.conv(x)).relu().mean((2, 3)))


    @register_model(family="custom", img_size=16, overwrite=True)
    def tiny_net(img_size, num_classes):
        return TinyNet(num_classes)


    @register_model(family="custom", img_size=16, overwrite=True)
    def tiny_oom_net(img_size, num_classes):
        return TinyNet(num_classes, oom_from_batch=4)
    """
)

CELL_MODULE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.vbench(mode="inference")
    def test_inference(vb_cell, vb_measure):
        vb_measure(vb_cell)
    """
)

# Few, short rounds: these tests check behaviour, never timings.
FAST = ["--benchmark-max-time=0.01", "--benchmark-min-rounds=3", "--vb-warmup-time=0", "-p", "no:cacheprovider"]


def _outside_xdist(monkeypatch: pytest.MonkeyPatch) -> None:
    # The inner session is not an xdist worker even when this test runs in one: pytest-benchmark
    # reads these variables and would disable itself (and the gate with it).
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def gate_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester project holding the gate's tiny project (fixtures/gate/project: ``tiny_net``)."""
    from gate_helpers import make_project

    _outside_xdist(monkeypatch)
    make_project(pytester)
    return pytester


@pytest.fixture
def vb_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """A pytester project with a user conftest (tiny registered models) and one inference cell function.

    Returns ``run(*args)`` which runs pytest in-process with fast benchmark settings.
    """
    _outside_xdist(monkeypatch)
    pytester.makeconftest(USER_CONFTEST)
    pytester.makepyfile(test_cells=CELL_MODULE)

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest_inprocess(*FAST, *args)

    return run
