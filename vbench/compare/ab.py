"""A/B across git revisions: both checked out in worktrees, timed rounds interleaved A B A B on one machine.

Each side runs its own code (bench files and vbench of its revision) in a pytest session of its own;
the two sessions of a pair run at the same time and take turns round by round through a
:class:`~vbench.interleave.TurnCoordinator`, so drift hits both sides alike. ``repeats`` pairs of
sessions spread what differs between processes (memory placement, thread placement) too. The raw
samples of all sessions of a side are pooled and the sides are judged like a baseline (A) and a
current run (B), with the speedup of B over A per cell.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from vbench.compare.policy import GatePolicy
from vbench.compare.engine import compare_paired
from vbench.compare.report import Report
from vbench.compare.runs import load_run
from vbench.errors import VBenchError, telling_line
from vbench.interleave import PairSession, failed_side, revision_first, run_pair, session_cpus

__all__ = ["ABResult", "SessionFailed", "git", "run_ab", "speedups", "worktree"]


class SessionFailed(VBenchError):
    """A pytest session of one side (``side``: ``A`` or ``B``) failed: its revision did not build or run."""

    def __init__(self, message: str, side: str):
        super().__init__(message)
        self.side = side


@dataclass
class ABResult:
    """The verdicts (A as baseline, B as current) and B's speedup over A per cell label."""

    report: Report
    speedup: dict[str, float]
    commands: list[str]


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise VBenchError(f"git {' '.join(args)} failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return proc.stdout.strip()


@contextmanager
def worktree(repo: Path, sha: str) -> Iterator[Path]:
    """A detached worktree of ``sha`` in a temporary folder, removed (and pruned) afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="vbench-rev-"))
    tree = tmp / sha[:12]
    try:
        git(repo, "worktree", "add", "--detach", str(tree), sha)
        yield tree
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
        subprocess.run(["git", "-C", str(repo), "worktree", "prune"], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def speedups(report: Report) -> dict[str, float]:
    """Median latency of A over median latency of B per cell (> 1: B is faster)."""
    return {r.cell: 1 / (1 + r.change) for r in report.rows
            if r.metric == "latency_median" and r.change is not None and r.change > -1}


def run_ab(
    rev_a: str,
    rev_b: str,
    pytest_args: Sequence[str],
    *,
    repo: str | Path = ".",
    repeats: int = 3,
    rounds: int = 30,
    policy: GatePolicy | Callable[[str], GatePolicy] | None = None,
    workdir: str | Path | None = None,
    log: Callable[[str], None] = print,
) -> ABResult:
    """Run ``pytest_args`` in worktrees of ``rev_a`` and ``rev_b``: ``repeats`` pairs of sessions,
    each pair taking turns round by round, ``rounds`` timed rounds per cell and session.

    The worktrees (detached, under a temporary folder) are removed afterwards; the JSON of every
    session is kept under ``workdir`` when one is given. Raises :class:`VBenchError` on git errors or
    a session whose pytest fails (its exit status and first error are named).
    """
    if repeats < 1 or rounds < 1:
        raise VBenchError("--repeats and --rounds must be >= 1")
    repo = Path(git(Path(repo), "rev-parse", "--show-toplevel"))
    revs = {"A": rev_a, "B": rev_b}
    shas = {side: git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}") for side, rev in revs.items()}
    out = Path(workdir) if workdir else None
    commands: list[str] = []
    paired = unpaired = 0
    cpus = session_cpus(pytest_args)
    with ExitStack() as stack:
        trees = {side: stack.enter_context(worktree(repo, shas[side])) for side in revs}
        if out is None:  # the sessions' JSON then lives only as long as the worktrees
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vbench-ab-")))
        out.mkdir(parents=True, exist_ok=True)
        files: dict[str, list[Path]] = {"A": [], "B": []}
        for turn in range(repeats):
            log(f"vbench ab: session pair {turn + 1}/{repeats}, A={shas['A'][:10]} B={shas['B'][:10]}, "
                f"rounds interleaved")
            paths = {side: out / f"{side}-{turn + 1}.json" for side in revs}
            sessions = {}
            for side in revs:
                cmd = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider",
                       f"--benchmark-json={paths[side]}"]
                env = revision_first(os.environ, trees[side])
                commands.append(f"(cd {trees[side]} && {shlex.join(cmd)})")
                sessions[side] = PairSession(cmd, trees[side], env, paths[side].with_suffix(".log"))
            stats, status = run_pair(sessions, rounds, cpus)
            paired, unpaired = paired + stats.paired, unpaired + stats.unpaired
            side = failed_side(status, paths)
            if side is not None:
                why = telling_line(paths[side].with_suffix(".log").read_text(errors="replace"))
                raise SessionFailed(f"pytest in {side} ({revs[side]}) exited {status[side]}: {why}", side)
            for side in revs:
                files[side].append(paths[side])
        pairs = [(load_run(a), load_run(b)) for a, b in zip(files["A"], files["B"])]
    device = next((c.extra.get("device") for c in pairs[0][1].cells.values() if c.extra.get("device")), "cpu")
    if policy is None:
        policy = GatePolicy.build(device_type=str(device))
    elif callable(policy):  # built once the device of the sessions is known (CPU and CUDA defaults differ)
        policy = policy(str(device))
    report = compare_paired(pairs, policy, source=f"A={revs['A']}", current=f"B={revs['B']}")
    report.notes.append(f"A/B: {repeats} session pair(s), {rounds} rounds per cell and session, taken in turns "
                        f"(A B A B ...): {paired} rounds paired, {unpaired} unpaired; each pair of sessions gives one "
                        f"ratio B/A per cell and metric, judged over the pairs; both sides on CPU(s) "
                        f"{','.join(map(str, cpus))}")
    return ABResult(report, speedups(report), commands)
