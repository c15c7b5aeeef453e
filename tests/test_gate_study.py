"""bench/gate_study.py stays runnable: the injected slowdown keeps the output, a tiny study runs."""

import importlib.util
from argparse import Namespace
from pathlib import Path

import torch

from vbench.compare import GatePolicy

STUDY = Path(__file__).resolve().parent.parent / "bench" / "gate_study.py"


def load_study():
    spec = importlib.util.spec_from_file_location("gate_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slowdown_is_extra_work_with_the_same_output():
    study = load_study()
    x = torch.randn(8, 3, 16, 16)
    torch.manual_seed(0)
    plain = study.StudyNet(10).eval()
    torch.manual_seed(0)
    slow = study.StudyNet(10, slowdown=0.1).eval()
    with torch.inference_mode():
        assert torch.equal(plain(x), slow(x))


def test_tiny_interleaved_study_reports_each_slowdown():
    study = load_study()
    args = Namespace(clock="cpu", rounds=3, iterations=1, batch=2, img=8)
    results = study.run_interleaved([0.0, 0.5], 1, args, GatePolicy(), log=lambda line: None)
    assert [r["slowdown"] for r in results] == [0.0, 0.5]
    assert all(r["trials"] == 1 and 0 <= r["caught"] <= 1 for r in results)


def test_tiny_ab_study_runs_a_real_session_pair(monkeypatch):
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)
    study = load_study()
    args = Namespace(clock="wall", rounds=4, max_time=0.01, batch=2, img=8, threads=1, fail_on=None, repeats=1,
                     model="gate_study_net", judge="time", pairs=10)
    policy = GatePolicy.build("memory:off,rss:off,cold_start:off")
    (result,) = study.run_ab([0.0], 1, args, policy, log=lambda line: None)
    assert result["slowdown"] == 0.0 and result["trials"] == 1 and result["caught"] in (0, 1)
    # Both sides timed the same cell, taking turns: their medians are the same order of magnitude.
    assert 0.5 < 1 + result["measured_slowdown_median"] < 2
