"""Confirmation in a fresh process: cells the gate found regressed, re-measured by a new pytest
process before the run fails.

Rounds of one process share that process's offset (where its memory landed, the core it ran on),
and so does the gate's in-process confirmation re-measure: on a shared 2-core VM one A/A
session in twenty ran its cell 5-6% slower throughout, rounds and re-measure alike. A second process
draws a new offset; a real regression shows in both. The child gets the parent's own pytest
arguments minus saving, comparing, report files, turn-taking and xdist (``_DROPPED``), stores
nothing outside a temporary folder, and runs only the named cells.

An A/B pair (:func:`remeasure_pair`) runs two such children at once, one in a worktree of the
baseline's commit and one here, taking turns round by round: the machine's drift between the stored
sessions and now, which fresh sessions judged against stored ones carry, lands on both sides.
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

__all__ = ["ENV_ONLY_CELLS", "PAIR_ROUNDS", "child_args", "remeasure", "remeasure_pair", "keep_only_cells"]

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
    "--vb-confirm-ab": 1,
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


def _child_command(config: pytest.Config, tmp: Path, out: Path) -> list[str]:
    # An ini file's addopts come first, so the options after the parent's win over them (an autosave
    # goes to the temporary storage, a JUnit report to the temporary folder).
    return [sys.executable, "-m", "pytest", *child_args(config.invocation_params.args), "-q",
            "-p", "no:cacheprovider", f"--benchmark-json={out}", f"--benchmark-storage=file://{tmp}/store",
            f"--junitxml={tmp}/junit.xml", "--vb-confirm-sessions=0"]


def _child_env(node_ids: Sequence[str]) -> dict[str, str]:
    return {**os.environ, ENV_ONLY_CELLS: "\n".join(node_ids), "PYTEST_ADDOPTS": ""}


def remeasure(config: pytest.Config, node_ids: Sequence[str]) -> Run:
    """Run ``node_ids`` in a new pytest process with the parent's arguments; returns its run.

    Raises :class:`VBenchError` (one line) when the child fails or writes no JSON.
    """
    with tempfile.TemporaryDirectory(prefix="vbench-fresh-") as tmp:
        out = Path(tmp) / "fresh.json"
        proc = subprocess.run(_child_command(config, Path(tmp), out), cwd=config.invocation_params.dir,
                              env=_child_env(node_ids), capture_output=True, text=True)
        if proc.returncode != 0 or not out.is_file():
            raise VBenchError(f"the fresh process exited {proc.returncode}: {telling_line(proc.stdout + proc.stderr)}")
        return load_run(out)


# Timed rounds per cell and side in an A/B pair (vbench ab's default): one pair gives one ratio per
# cell, so more rounds only sharpen that pair's medians.
PAIR_ROUNDS = 30


def remeasure_pair(config: pytest.Config, node_ids: Sequence[str], repo: Path, base_tree: Path) -> tuple[Run, Run]:
    """Run ``node_ids`` at the baseline commit (``base_tree``, a worktree of ``repo``) and in this
    checkout at once, taking turns round by round (``vbench ab``'s coordinator, both pinned to the
    same CPUs); returns ``(the baseline commit's run, this checkout's run)``.

    The baseline side imports its own revision's code first (``PYTHONPATH``). Raises
    :class:`VBenchError` (one line) when a side fails or writes no JSON.
    """
    from vbench.interleave import PairSession, failed_side, revision_first, run_pair, session_cpus

    here = Path(config.invocation_params.dir)
    try:
        cwd = {"A": base_tree / here.resolve().relative_to(repo.resolve()), "B": here}
    except ValueError:
        raise VBenchError(f"pytest ran outside the git checkout {repo}: no A/B pair") from None
    with tempfile.TemporaryDirectory(prefix="vbench-pair-") as tmp:
        sessions, outs = {}, {}
        for side in ("A", "B"):
            folder = Path(tmp) / side
            folder.mkdir()
            outs[side] = folder / "pair.json"
            env = _child_env(node_ids)
            sessions[side] = PairSession(_child_command(config, folder, outs[side]), cwd[side],
                                         revision_first(env, base_tree) if side == "A" else env, folder / "log")
        _, status = run_pair(sessions, PAIR_ROUNDS, session_cpus(config.invocation_params.args))
        side = failed_side(status, outs)
        if side is not None:
            what = "the baseline commit" if side == "A" else "this checkout"
            log = sessions[side].log.read_text(errors="replace") if sessions[side].log.is_file() else ""
            raise VBenchError(f"the A/B session of {what} exited {status[side]}: {telling_line(log)}")
        return load_run(outs["A"]), load_run(outs["B"])


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
