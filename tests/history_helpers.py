"""Stored sessions with git info for the history tests, built with the real pytest-benchmark schema
(:mod:`report_json`), where each session's value is known in advance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from report_json import cell

__all__ = ["KEY", "write_session", "write_series"]

KEY = "test-cpu-2t-torch2"


def write_session(path: Path, index: int, ms: dict[str, float], *, commit: str | None = None,
                  hardware_key: str = KEY, norm: dict[str, float] | None = None, git: bool = True,
                  schema_version: int | None = None) -> Path:
    """One session: cells named by ``ms`` keys (model names) with that median round time, commit
    ``commit`` (default ``c{index}``) at hour ``index`` of 2026-01-01; ``norm``: norm_time medians."""
    cells = []
    for model, value in ms.items():
        extra = {}
        if norm and model in norm:
            extra["norm_time_samples"] = list(np.linspace(norm[model] * 0.99, norm[model] * 1.01, 9))
        cells.append(cell(model, "eager", 8, value, rounds=9, **extra))
    when = f"2026-01-{1 + index // 24:02d}T{index % 24:02d}:00:00+00:00"
    data = {"machine_info": {"hardware_key": hardware_key, "node": "test"}, "benchmarks": cells,
            "datetime": when, "version": "5.3.1",
            "commit_info": ({"id": commit or hashlib.sha1(str(index).encode()).hexdigest(), "time": when, "dirty": False, "branch": "main"} if git
                            else {"id": "unversioned", "time": None}),
            "vbench": {"schema_version": schema_version or 1, "complete": True}}
    path.write_text(json.dumps(data))
    return path


def write_series(folder: Path, values: list[float], *, model: str = "net", others: dict[str, float] | None = None,
                 **kwargs) -> list[Path]:
    """One session per value of ``values`` (ms of cell ``model``) in ``folder``, named like
    pytest-benchmark's autosave (0001_c0.json, ...); ``others`` adds steady cells."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_session(folder / f"{i + 1:04d}_c{i}.json", i, {model: v, **(others or {})}, **kwargs)
            for i, v in enumerate(values)]
