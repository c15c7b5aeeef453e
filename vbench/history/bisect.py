"""``vbench bisect GOOD BAD``: the first commit between two revisions that is slower than GOOD.

Each step measures one commit against GOOD with ``vbench ab``'s interleaved session pairs
(:func:`vbench.compare.ab.run_ab`) and judges the pairs with the verdict engine
(:func:`vbench.compare.engine.compare_paired`): a regressed row makes the commit bad; no regressed
and no inconclusive row makes it good; inconclusive rows (beyond the tolerance, not beyond the
noise) get more pairs, ``step_pairs`` at a time up to ``max_pairs``, like Pinpoint's "unknown: run
more". A commit that stays inconclusive, or whose session fails to build or run, is skipped (said in
one line) and the search goes on around it, as ``git bisect skip`` does. BAD is measured first: a
range whose end is not slower than its start has nothing to find.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from vbench.compare.ab import SessionFailed, run_ab
from vbench.compare.engine import compare_paired
from vbench.compare.policy import GatePolicy
from vbench.compare.report import Report
from vbench.compare.runs import load_run
from vbench.errors import VBenchError

__all__ = ["BAD", "GOOD", "INCONCLUSIVE", "SKIPPED", "BisectStep", "BisectResult", "commits_between", "run_bisect"]

BAD, GOOD, INCONCLUSIVE, SKIPPED = "bad", "good", "inconclusive", "skipped"


@dataclass
class BisectStep:
    """One commit measured against GOOD: its outcome, the session pairs measured, and the evidence
    (the gated row with the largest change: cell, metric, change B/A - 1 and its verdict)."""

    commit: str
    subject: str
    outcome: str
    pairs: int = 0
    cell: str | None = None
    metric: str | None = None
    change: float | None = None
    verdict: str | None = None
    note: str = ""

    def line(self, number: int) -> str:
        """``step 3: 1a2b3c4d5e "subject": bad, inference net norm_time +210.4% (regressed, 2 pairs)``."""
        head = f"step {number}: {self.commit[:10]} {self.subject!r}: {self.outcome}"
        if self.change is not None:
            head += f", {self.cell} {self.metric} {self.change:+.1%} ({self.verdict}, {self.pairs} pair(s))"
        return head + (f"; {self.note}" if self.note else "")


@dataclass
class BisectResult:
    """The search: GOOD, BAD, the commits after GOOD up to BAD (oldest first), the steps, and the
    first bad commit (None when skipped commits leave several: ``candidates``)."""

    good: str
    bad: str
    commits: list[str]
    steps: list[BisectStep] = field(default_factory=list)
    first_bad: str | None = None
    candidates: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def exit_status(self) -> int:
        """0 when the first bad commit was found, 1 when it was not (BAD not slower, or skipped
        commits leave several candidates)."""
        return 0 if self.first_bad else 1

    def as_dict(self) -> dict:
        return {"good": self.good, "bad": self.bad, "commits": self.commits, "first_bad": self.first_bad,
                "candidates": self.candidates, "message": self.message, "exit_status": self.exit_status,
                "steps": [asdict(s) for s in self.steps]}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)


def commits_between(repo: str | Path, good: str, bad: str) -> tuple[str, str, list[tuple[str, str]]]:
    """GOOD's and BAD's full ids and the first-parent commits after GOOD up to BAD (id, subject),
    oldest first. Raises :class:`VBenchError` for an unknown revision or GOOD not an ancestor of BAD."""
    repo = Path(repo)
    shas = []
    for rev in (good, bad):
        proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if proc.returncode != 0:
            raise VBenchError(f"{rev!r} is not a commit in {repo.resolve()}")
        shas.append(proc.stdout.strip())
    if _git(repo, "merge-base", "--is-ancestor", *shas).returncode != 0:
        raise VBenchError(f"GOOD {good} is not an ancestor of BAD {bad}: nothing to bisect between them")
    log = _git(repo, "log", "--first-parent", "--reverse", "--format=%H %s", f"{shas[0]}..{shas[1]}").stdout
    commits = [tuple(line.split(" ", 1)) if " " in line else (line, "") for line in log.splitlines() if line]
    if not commits:
        raise VBenchError(f"GOOD {good} and BAD {bad} are the same commit: nothing to bisect")
    return shas[0], shas[1], commits


def _evidence(step: BisectStep, report: Report) -> None:
    """The gated row with the largest change: a regressed one first, then an inconclusive one."""
    rows = [r for r in report.rows if r.tolerance is not None and r.change is not None]
    for verdict in ("regressed", "inconclusive", None):
        chosen = [r for r in rows if verdict is None or r.verdict == verdict]
        if chosen:
            row = max(chosen, key=lambda r: abs(r.change))
            step.cell, step.metric, step.change, step.verdict = row.cell, row.metric, row.change, row.verdict
            return


def _measure(good: str, commit: str, subject: str, pytest_args: Sequence[str], repo: Path, *, step_pairs: int,
             max_pairs: int, rounds: int, policy, workdir: Path, log: Callable[[str], None]) -> BisectStep:
    """One step: ``commit`` against ``good`` in pairs until the verdicts decide or ``max_pairs``."""
    step = BisectStep(commit, subject, INCONCLUSIVE)
    files: list[tuple[Path, Path]] = []
    report: Report | None = None
    while step.pairs < max_pairs:
        count = min(step_pairs, max_pairs - step.pairs)
        out = workdir / f"{commit[:10]}-{step.pairs}"
        try:
            result = run_ab(good, commit, pytest_args, repo=repo, repeats=count, rounds=rounds, policy=policy,
                            workdir=out, log=log)
        except SessionFailed as exc:
            if exc.side == "A":
                raise VBenchError(f"GOOD {good[:10]} does not run: {exc}") from None
            step.outcome, step.note = SKIPPED, f"does not build or run: {exc}"
            return step
        files += [(out / f"A-{i + 1}.json", out / f"B-{i + 1}.json") for i in range(count)]
        step.pairs += count
        pairs = [(load_run(a), load_run(b)) for a, b in files]
        # Each look at the growing set of pairs is a chance of a false "bad": the looks share alpha
        # (Bonferroni over the looks), so a commit is not called bad more often for being looked at again.
        looks = -(-max_pairs // step_pairs)
        spent = replace(result.report.policy, alpha=result.report.policy.alpha / looks)
        report = compare_paired(pairs, spent, source=f"A={good[:10]}", current=f"B={commit[:10]}")
        if report.regressions:
            step.outcome = BAD
            break
        if not report.inconclusive:
            step.outcome = GOOD
            break
    if report is not None:
        _evidence(step, report)
    if step.outcome == INCONCLUSIVE:
        step.outcome, step.note = SKIPPED, f"still inconclusive after {step.pairs} pairs"
    return step


def run_bisect(good: str, bad: str, pytest_args: Sequence[str], *, repo: str | Path = ".", step_pairs: int = 2,
               max_pairs: int = 6, rounds: int = 20, policy: GatePolicy | Callable[[str], GatePolicy] | None = None,
               log: Callable[[str], None] = print) -> BisectResult:
    """Find the first commit after ``good`` up to ``bad`` that is slower than ``good`` (see the module
    docstring). ``log`` gets one line per step as it ends, and the ``vbench ab`` progress lines."""
    if step_pairs < 1 or max_pairs < step_pairs or rounds < 1:
        raise VBenchError("--pairs and --rounds must be >= 1 and --max-pairs >= --pairs")
    top = _git(Path(repo), "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise VBenchError(f"{Path(repo).resolve()} is not in a git repository")
    repo = Path(top.stdout.strip())
    good_sha, bad_sha, commits = commits_between(repo, good, bad)
    result = BisectResult(good_sha, bad_sha, [c for c, _ in commits])
    subjects = dict(commits)

    with tempfile.TemporaryDirectory(prefix="vbench-bisect-") as tmp:
        def measure(index: int) -> str:
            sha = commits[index][0]
            step = _measure(good_sha, sha, subjects[sha], pytest_args, repo, step_pairs=step_pairs,
                            max_pairs=max_pairs, rounds=rounds, policy=policy, workdir=Path(tmp), log=log)
            result.steps.append(step)
            log(step.line(len(result.steps)))
            return step.outcome

        last = len(commits) - 1
        outcome = measure(last)
        if outcome != BAD:
            why = {GOOD: "is not slower than GOOD", SKIPPED: "could not be judged against GOOD"}[outcome]
            result.message = f"BAD {bad} {why}: nothing to bisect"
            return result
        lo, hi, skipped = -1, last, set()
        while between := [i for i in range(lo + 1, hi) if i not in skipped]:
            mid = between[len(between) // 2]
            outcome = measure(mid)
            if outcome == BAD:
                hi = mid
            elif outcome == GOOD:
                lo = mid
            else:
                skipped.add(mid)
    left = [commits[i][0] for i in range(lo + 1, hi + 1)]
    if len(left) == 1:
        result.first_bad = left[0]
        result.message = f"first bad commit: {left[0]} {subjects[left[0]]!r}"
    else:
        result.candidates = left
        result.message = (f"the first bad commit is one of {len(left)} (skipped commits are untested): "
                          + ", ".join(c[:10] for c in left))
    return result
