"""Constructed pytest-benchmark JSON for report tests, where the right answer is known in advance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from vbench.schema import FIELDS, SCHEMA_VERSION

__all__ = ["guard", "cell", "write_run"]


def guard(precision: str, err: float, top1: float = 1.0) -> str:
    """What the correctness guard writes in ``correctness`` for these numbers under its default
    tolerances (``mean_rel_err`` is ``err / 10``, as in :func:`cell`): ``ok`` or its failure message."""
    from vbench.correctness import DEFAULT_TOLERANCES, Agreement, check_agreement

    return check_agreement(Agreement(top1, err, err / 10), precision, DEFAULT_TOLERANCES) or "ok"


def cell(model: str, opt: str, bs: int, ms: float, *, spread: float = 0.01, precision: str = "fp32",
         mode: str = "inference", img: int = 64, mem_mb: float = 1000.0, top1: float = 1.0,
         err: float = 0.0, gmacs: float = 1.0, rounds: int = 20, **extra: Any) -> dict[str, Any]:
    """One benchmark entry whose per-round times are ``ms`` +- ``spread`` (fraction), evenly spread.

    The guard's ``correctness`` is ``ok`` unless ``extra`` sets it (a failure message, or None)."""
    samples = list(np.linspace(ms * (1 - spread), ms * (1 + spread), rounds) / 1e3)
    arr = np.asarray(samples)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    info = {name: None for name in FIELDS}
    info.update(
        schema_version=SCHEMA_VERSION, model=model, family="test", optimization=opt, mode=mode, batch_size=bs,
        img_size=img, device="cpu", precision=precision, samples_per_s=bs / med, latency_ms_p50=med * 1e3,
        latency_ms_p90=float(np.percentile(arr, 90) * 1e3), latency_ms_p99=float(np.percentile(arr, 99) * 1e3),
        latency_ms_per_sample=med * 1e3 / bs, rounds=rounds, peak_rss_mb=mem_mb, params=1000,
        trainable_params=1000, gmacs=gmacs, gflops=2 * gmacs, top1_agreement=top1, max_rel_err=err,
        mean_rel_err=err / 10, correctness="ok",
    )
    info.update(extra)
    stats = {"min": float(arr.min()), "max": float(arr.max()), "mean": float(arr.mean()),
             "stddev": float(arr.std()), "rounds": rounds, "median": float(med), "iqr": float(q3 - q1),
             "q1": float(q1), "q3": float(q3), "iqr_outliers": 0, "stddev_outliers": 0, "outliers": "0;0",
             "ld15iqr": float(arr.min()), "hd15iqr": float(arr.max()), "ops": float(1 / arr.mean()),
             "total": float(arr.sum()), "data": samples, "iterations": 1}
    name = f"test_{mode}[{model}-{opt}-bs{bs}-{img}px]"
    return {"group": f"{mode}-{model}-bs{bs}-{img}px", "name": name, "fullname": f"bench/test.py::{name}",
            "params": {}, "param": None, "extra_info": info, "options": {}, "stats": stats}


def write_run(path: Path, cells: list[dict[str, Any]], *, hardware_key: str = "test-cpu-2t-torch2",
              when: str = "2026-01-01T00:00:00+00:00", drop: tuple[str, ...] = ()) -> Path:
    """Write a pytest-benchmark JSON file holding ``cells``; ``drop`` removes fields (older schemas)."""
    for c in cells:
        for name in drop:
            c["extra_info"].pop(name, None)
    data = {"machine_info": {"hardware_key": hardware_key, "node": "test"}, "commit_info": {"id": "abc123"},
            "benchmarks": cells, "datetime": when, "version": "5.3.1"}
    path.write_text(json.dumps(data))
    return path
