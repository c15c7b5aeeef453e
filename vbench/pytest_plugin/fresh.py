"""Confirmation in a fresh process: cells the gate found regressed, re-measured by a new pytest
process before the run fails.

Rounds of one process share that process's offset (where its memory landed, the core it ran on),
and so does the gate's in-process confirmation re-measure: on a shared 2-core VM one A/A
session in twenty ran its cell 5-6% slower throughout, rounds and re-measure alike. A second process
draws a new offset; a real regression shows in both. The child gets the parent's own pytest
arguments minus saving, comparing, report files, turn-taking and xdist (``_DROPPED``), stores
nothing outside a temporary folder, and runs only the named cells.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from vbench.compare.runs import Run, load_run
from vbench.errors import VBenchError, telling_line

__all__ = ["ENV_ONLY_CELLS", "child_args", "remeasure", "keep_only_cells"]

ENV_ONLY_CELLS = "VBENCH_ONLY_CELLS"  # newline-separated node ids the child runs

# Options the child must not inherit -> how many values they take: 0, 1, or "?" (optional: argparse
# takes the next token as the value unless it starts with "-").
_DROPPED: dict[str, int | str] = {
    "--benchmark-autosave": 0,
    "--benchmark-save": 1,
    "--benchmark-compare": "?",
    "--benchmark-compare-fail": 1,
    "--benchmark-json": 1,
    "--benchmark-histogram": "?",
    "--vb-verdict-md": 1,
    "--vb-verdict-json": 1,
    "--benchmark-storage": 1,  # the child stores (if an ini addopts says so) in a temporary folder
    "--vb-confirm-sessions": 1,
    "--vb-fail-on-inconclusive": 0,
    "--vb-interleave": 1,
    "--vb-interleave-rounds": 1,
    # Reports the parent writes: the child must not overwrite them with its one cell.
    "--junitxml": 1,
    "--junit-xml": 1,
    "--report-log": 1,
    "--html": 1,
    "--basetemp": 1,
    "-n": 1,
    "--numprocesses": 1,
    "--maxprocesses": 1,
    "--dist": 1,
}


def child_args(args: Sequence[str]) -> list[str]:
    """``args`` (the parent's pytest arguments) without the options in ``_DROPPED`` and their values."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = str(args[i])
        name, eq, _ = arg.partition("=")
        if name in _DROPPED:
            takes = _DROPPED[name]
            if not eq and (takes == 1 or (takes == "?" and i + 1 < len(args) and not str(args[i + 1]).startswith("-"))):
                i += 1
            i += 1
            continue
        if arg.startswith("-n") and arg[2:] and (arg[2:].isdigit() or arg[2:] in ("auto", "logical")):
            i += 1  # -n4, -nauto
            continue
        out.append(arg)
        i += 1
    return out


def remeasure(config: pytest.Config, node_ids: Sequence[str]) -> Run:
    """Run ``node_ids`` in a new pytest process with the parent's arguments; returns its run.

    Raises :class:`VBenchError` (one line) when the child fails or writes no JSON.
    """
    with tempfile.TemporaryDirectory(prefix="vbench-fresh-") as tmp:
        out = Path(tmp) / "fresh.json"
        cmd = [sys.executable, "-m", "pytest", *child_args(config.invocation_params.args), "-q",
               "-p", "no:cacheprovider", f"--benchmark-json={out}", f"--benchmark-storage=file://{tmp}/store",
               f"--junitxml={tmp}/junit.xml", "--vb-confirm-sessions=0"]
        # An ini file's addopts come first, so the options above win over them (an autosave goes to
        # the temporary storage, a JUnit report to the temporary folder); PYTEST_ADDOPTS is cleared.
        env = {**os.environ, ENV_ONLY_CELLS: "\n".join(node_ids), "PYTEST_ADDOPTS": ""}
        proc = subprocess.run(cmd, cwd=config.invocation_params.dir, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            raise VBenchError(f"the fresh process exited {proc.returncode}: {telling_line(proc.stdout + proc.stderr)}")
        return load_run(out)


def keep_only_cells(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a child started by :func:`remeasure`: deselect every item but the named cells."""
    only = os.environ.get(ENV_ONLY_CELLS)
    if not only:
        return
    wanted = set(only.split("\n"))
    keep = [item for item in items if item.nodeid in wanted]
    dropped = [item for item in items if item.nodeid not in wanted]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
