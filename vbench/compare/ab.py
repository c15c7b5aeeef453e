"""A/B across git revisions: both checked out in worktrees, sessions interleaved A B A B on one machine.

Each turn is one pytest session of the selected cells in one revision's worktree (so each side runs
its own code, bench files and vbench); alternating turns spreads machine drift over both sides.
The raw samples of all turns of a side are pooled and the sides are judged like a baseline (A) and a
current run (B), with the speedup of B over A per cell.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vbench.compare.policy import GatePolicy
from vbench.compare.report import Report, compare_runs
from vbench.compare.runs import load_run, merge_runs
from vbench.errors import VBenchError

__all__ = ["ABResult", "run_ab", "speedups"]


@dataclass
class ABResult:
    """The verdicts (A as baseline, B as current) and B's speedup over A per cell label."""

    report: Report
    speedup: dict[str, float]
    commands: list[str]


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise VBenchError(f"git {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return proc.stdout.strip()


def speedups(report: Report) -> dict[str, float]:
    """Median latency of A over median latency of B per cell (> 1: B is faster)."""
    return {r.cell: r.baseline / r.current for r in report.rows
            if r.metric == "latency_median" and r.baseline and r.current}


def run_ab(
    rev_a: str,
    rev_b: str,
    pytest_args: Sequence[str],
    *,
    repo: str | Path = ".",
    repeats: int = 3,
    policy: GatePolicy | None = None,
    workdir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> ABResult:
    """Run ``pytest_args`` in worktrees of ``rev_a`` and ``rev_b``, ``repeats`` turns each, interleaved.

    The worktrees (detached, under a temporary folder) are removed afterwards; the JSON of every
    turn is kept under ``workdir`` when one is given. Raises :class:`VBenchError` on git errors or
    a turn whose pytest fails (its exit status and command are named).
    """
    if repeats < 1:
        raise VBenchError("--repeats must be >= 1")
    repo = Path(_git(Path(repo), "rev-parse", "--show-toplevel"))
    shas = {rev: _git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}") for rev in (rev_a, rev_b)}
    tmp = Path(tempfile.mkdtemp(prefix="vbench-ab-"))
    out = Path(workdir) if workdir else tmp / "json"
    out.mkdir(parents=True, exist_ok=True)
    trees = {"A": tmp / "A", "B": tmp / "B"}
    commands: list[str] = []
    created: list[Path] = []
    try:
        for side, rev in (("A", rev_a), ("B", rev_b)):
            _git(repo, "worktree", "add", "--detach", str(trees[side]), shas[rev])
            created.append(trees[side])
        files: dict[str, list[Path]] = {"A": [], "B": []}
        for turn in range(repeats):
            for side in ("A", "B"):
                json_path = out / f"{side}-{turn + 1}.json"
                cmd = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider",
                       f"--benchmark-json={json_path}"]
                env = {**os.environ, "PYTHONPATH": os.pathsep.join(
                    [str(trees[side])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
                log(f"vbench ab: turn {turn + 1}/{repeats} {side} ({shas[rev_a if side == 'A' else rev_b][:10]})")
                commands.append(f"(cd {trees[side]} && {shlex.join(cmd)})")
                proc = subprocess.run(cmd, cwd=trees[side], env=env, capture_output=True, text=True)
                if proc.returncode != 0 or not json_path.is_file():
                    lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
                    why = next((ln for ln in lines if ln.startswith("ERROR")), lines[-1] if lines else "")
                    raise VBenchError(f"pytest in {side} ({rev_a if side == 'A' else rev_b}) exited "
                                      f"{proc.returncode}: {why}")
                files[side].append(json_path)
        side_runs = {s: merge_runs([load_run(f) for f in files[s]], f"{s}={rev}")
                     for s, rev in (("A", rev_a), ("B", rev_b))}
    finally:
        for tree in created:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
    report = compare_runs(side_runs["A"], side_runs["B"], policy or GatePolicy())
    report.notes.append(f"A/B: {repeats} interleaved session(s) per side, raw samples pooled")
    return ABResult(report, speedups(report), commands)
