"""Timers and warm-up. The CUDA timer's synchronization is checked by replacing torch.cuda.synchronize:
on a CPU-only machine this is the one place where a stand-in is the only way to observe the call."""

from __future__ import annotations

import time

import pytest
import torch

from vbench import timing
from vbench.timing import WarmupPolicy, device_timer, time_call, warm_up


def test_cuda_timer_synchronizes_before_reading_the_clock(monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    monkeypatch.setattr(time, "perf_counter", lambda: events.append("clock") or 1.5)
    timer = device_timer(torch.device("cuda", 0))
    assert timer is timing.cuda_synchronized_perf_counter
    assert timer() == 1.5
    assert events == ["sync", "clock"]


def test_cuda_time_call_waits_for_the_device_at_both_ends(monkeypatch):
    events = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: events.append("sync"))
    time_call(lambda: events.append("work"), device_timer(torch.device("cuda", 0)))
    assert events == ["sync", "work", "sync"]


def test_cpu_timer_is_perf_counter():
    assert device_timer(torch.device("cpu")) is time.perf_counter


def test_cuda_event_timer_refuses_cpu():
    with pytest.raises(ValueError):
        timing.CudaEventTimer(torch.device("cpu"))


def test_warm_up_runs_at_least_min_iters_and_at_most_max_iters():
    calls = []
    result = warm_up(lambda: calls.append(1), WarmupPolicy(min_iters=3, min_time_s=0, max_iters=10), time.perf_counter)
    assert result.iterations == len(calls) == 3
    calls.clear()
    result = warm_up(lambda: calls.append(1), WarmupPolicy(min_iters=1, min_time_s=60, max_iters=5), time.perf_counter)
    assert result.iterations == len(calls) == 5


def test_warm_up_policy_validation():
    with pytest.raises(ValueError):
        WarmupPolicy(min_iters=5, max_iters=2)
    with pytest.raises(ValueError):
        WarmupPolicy(min_time_s=-1)
