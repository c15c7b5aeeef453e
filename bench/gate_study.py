"""Measurement study of the regression gate on this machine: false alarms (A/A) and detection (A/B).

The slowdown is real extra work inside the forward of a registered test model (``StudyNet``: extra
applications of one of its conv blocks, over whole batches then over a slice of the batch), never a
change to the timer. Three modes:

``--mode sessions`` (the CI regime): every trial is two separate ``pytest bench/test_inference.py``
processes of the one cell ``gate_study_net-eager``, the second run with ``--benchmark-compare`` on
the first's JSON, so the real gate judges it (pytest-benchmark rounds, tolerance plus Mann-Whitney U
and bootstrap significance, confirmation re-measure, exit status). The slowdown reaches the second
process through ``$VBENCH_STUDY_SLOWDOWN``. Sessions run in the order A0, B0, A1, B1, ...; the A/A
trial i compares A(i+1) with A(i), the A/B trial i compares B(i) with A(i). With ``--baseline-runs K``
the A sessions are stored and trial i compares with the K A sessions before it, pooled
(``--vb-baseline-runs K``). ``--judge probe`` gates on ``norm_time`` (the machine probe) instead.

``--mode ab`` (the ``vbench ab`` regime): every trial is ``--repeats`` pairs of pytest processes of the
cell, A without and B with the slowdown, running at once and taking turns round by round through a
:class:`vbench.interleave.TurnCoordinator` exactly as under ``vbench ab``; B is judged against A (A's
sessions pooled) with :func:`vbench.compare.compare_runs`. A/A trials pair two unslowed processes.

``--mode interleaved`` (one process): model A and model B (same weights)
are timed in alternating rounds, A B A B ..., and B is judged against A with the gate's own checks
(:func:`vbench.compare.judge_cell`), with the gate's confirmation (more rounds, judged again).
``--clock cpu`` times with this process's CPU time instead of the wall clock.

Run (the numbers in README, "Regression gate" came from these; each finishes within 15 minutes on 2 cores)::

    python bench/gate_study.py --mode sessions --slowdowns 5,7,10 --out study-sessions-wall.json
    python bench/gate_study.py --mode ab --slowdowns 3,5,7,10 --out study-ab-wall.json
    python bench/gate_study.py --mode sessions --clock cpu --slowdowns 10,20 --out study-sessions-cpu.json
    python bench/gate_study.py --mode interleaved --slowdowns 0,5,10,15,20,30 --out study-interleaved-wall.json
    python bench/gate_study.py --mode interleaved --clock cpu --slowdowns 0,5,7,10,15,20 \
        --out study-interleaved-cpu.json

Each prints per slowdown the trials caught and the measured slowdown, the false-alarm rate (A/A) and
the smallest slowdown caught in at least 19 of 20 trials.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from vbench import create_model, register_model
from vbench.compare import CHECKS, CellRecord, GatePolicy, judge_cell
from vbench.compare.verdicts import REGRESSED, SampledCheck
from vbench.models import MODELS
from vbench.timing import device_timer, time_call

__all__ = ["StudyNet", "study_net", "run_interleaved", "run_sessions", "run_ab", "main"]

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
TIME_CHECKS = tuple(c for c in CHECKS if isinstance(c, SampledCheck) and c.source == "time")
CLOCKS = {"wall": device_timer(torch.device("cpu")), "cpu": time.process_time}
ENV_SLOWDOWN = "VBENCH_STUDY_SLOWDOWN"
ENV_CLOCK = "VBENCH_STUDY_CLOCK"


class StudyNet(nn.Module):
    """A small CNN of ``blocks`` identical 3x3 conv blocks. ``slowdown`` adds that fraction of the
    blocks' work to every forward (to within 1 / (blocks x batch)); its output is unchanged."""

    def __init__(self, num_classes: int, slowdown: float = 0.0, blocks: int = 20, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks))
        self.head = nn.Linear(width, num_classes)
        self.slowdown = slowdown

    def forward(self, x):
        y = torch.relu(self.stem(x))
        for block in self.blocks:
            y = torch.relu(block(y))
        out = self.head(y.mean((2, 3)))
        batch = int(y.shape[0])  # a tensor while fvcore traces the model
        full, part = divmod(round(self.slowdown * len(self.blocks) * batch), batch)
        for _ in range(full):
            out = out + torch.relu(self.blocks[0](y)).mean() * 0
        if part:
            out = out + torch.relu(self.blocks[0](y[:part])).mean() * 0
        return out


def study_net(slowdown: float, name: str | None = None) -> str:
    """Register (once) ``StudyNet`` with ``slowdown`` injected; returns the model name."""
    name = name or ("gate_study_net" if slowdown == 0 else f"gate_study_net_slow{slowdown * 100:g}pct")
    if name not in MODELS:
        register_model(lambda img_size, num_classes: StudyNet(num_classes, slowdown), name=name,
                       family="custom", img_size=16)
    return name


def pytest_configure(config) -> None:
    """Plugin entry for the sessions mode (``-p gate_study``): ``gate_study_net`` with the slowdown
    given in ``$VBENCH_STUDY_SLOWDOWN`` (a fraction; 0 when unset)."""
    study_net(float(os.environ.get(ENV_SLOWDOWN, "0")), name="gate_study_net")


def pytest_collection_modifyitems(config, items) -> None:
    """With ``$VBENCH_STUDY_CLOCK=cpu`` the cells' rounds are timed with ``time.process_time`` (the
    closest benchmark marker wins; the gate's confirmation re-measures with the same clock)."""
    import pytest

    if os.environ.get(ENV_CLOCK) == "cpu":
        for item in items:
            item.add_marker(pytest.mark.benchmark(timer=time.process_time), append=False)


# -- interleaved mode ----------------------------------------------------------------------------


def _interleaved(step_a, step_b, rounds, timer):
    """``rounds`` times one round of A and one of B, alternating which goes first."""
    a, b = [], []
    for i in range(rounds):
        first, second = (step_a, step_b) if i % 2 == 0 else (step_b, step_a)
        t_first, t_second = time_call(first, timer), time_call(second, timer)
        a.append(t_first if i % 2 == 0 else t_second)
        b.append(t_second if i % 2 == 0 else t_first)
    return a, b


def _regressed(a, b, batch, policy) -> bool:
    extra = {"batch_size": batch}
    rows = judge_cell(CellRecord("A", "A", extra, a), CellRecord("B", "B", extra, b), policy, TIME_CHECKS)
    return any(r.verdict == REGRESSED for r in rows)


def run_interleaved(slowdowns, trials, args, policy, log=print) -> list[dict]:
    """The interleaved mode; returns one result per slowdown."""
    timer = CLOCKS[args.clock]
    confirm_rounds = max(10, 2 * args.rounds)
    x = torch.randn(args.batch, 3, args.img, args.img, generator=torch.Generator().manual_seed(0))
    results = []
    with torch.inference_mode():
        model_a = create_model(study_net(0.0), img_size=args.img)
        for slowdown in slowdowns:
            model_b = create_model(study_net(slowdown), img_size=args.img)  # same seed: same weights as A
            # A round is ``iterations`` calls (pytest-benchmark's iterations), spanning several
            # scheduler time slices on a shared machine.
            step_a = lambda: [model_a(x) for _ in range(args.iterations)]  # noqa: E731
            step_b = lambda: [model_b(x) for _ in range(args.iterations)]  # noqa: E731
            for _ in range(3):
                step_a(), step_b()
            caught = looked = 0
            ratios, started = [], time.perf_counter()
            for _ in range(trials):
                a, b = _interleaved(step_a, step_b, args.rounds, timer)
                ratios.append(statistics.median(b) / statistics.median(a))
                if _regressed(a, b, args.batch, policy):
                    looked += 1
                    a, b = _interleaved(step_a, step_b, confirm_rounds, timer)
                    caught += _regressed(a, b, args.batch, policy)
            results.append(_result(slowdown, trials, caught, ratios, time.perf_counter() - started, looked))
            log(_line(results[-1]))
    return results


# -- sessions mode -------------------------------------------------------------------------------


def _cell_command(out: Path, slowdown: float, args) -> tuple[list[str], dict[str, str]]:
    """The pytest command (and its environment) of one session of the study cell."""
    env = {**os.environ, ENV_SLOWDOWN: str(slowdown), ENV_CLOCK: args.clock,
           "PYTHONPATH": os.pathsep.join([str(BENCH), str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    cmd = [sys.executable, "-m", "pytest", str(BENCH / "test_inference.py"), "-p", "gate_study", "-q",
           "-p", "no:cacheprovider", "--vb-models", args.model, "--vb-opts", "eager",
           "--vb-batch-sizes", str(args.batch), "--vb-img-sizes", str(args.img),
           "--benchmark-min-rounds", str(args.rounds), "--benchmark-max-time", str(args.max_time),
           "--benchmark-json", str(out)]
    if args.threads:
        cmd += ["--vb-threads", str(args.threads)]
    # One --vb-fail-on (the last one given wins): memory, RSS and cold start are not what the study
    # injects; --judge probe gates on norm_time (cell / machine probe) alone.
    fail_on = ["memory:off,rss:off,cold_start:off"]
    if args.judge == "probe":
        cmd += ["--vb-probe", "on", "--vb-relative-pairs", str(args.pairs)]
        fail_on.append("time:off,tail:off")
    if args.fail_on:
        fail_on.append(args.fail_on)
    cmd += ["--vb-fail-on", ",".join(fail_on)]
    return cmd, env


def _cell_figure(path: Path, args) -> float:
    """What the trial judged, from a session's JSON: the median round time, or the median norm_time."""
    cell = json.loads(path.read_text())["benchmarks"][0]
    return cell["extra_info"]["norm_time"] if args.judge == "probe" else cell["stats"]["median"]


def _session(out: Path, slowdown: float, args, compare: list[str]) -> tuple[int, float]:
    """One pytest process of the study cell with the ``compare`` arguments; returns (exit status, figure)."""
    cmd, env = _cell_command(out, slowdown, args)
    if any(a.startswith("--benchmark-compare") for a in compare):
        cmd += ["--vb-verdict-json", str(out.with_suffix(".verdicts.json"))]
    proc = subprocess.run(cmd + compare, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode not in (0, 1) or not out.is_file():
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise RuntimeError(f"study session failed ({proc.returncode}): {' | '.join(tail)}")
    return proc.returncode, _cell_figure(out, args)


def run_sessions(slowdowns, trials, args, log=print) -> list[dict]:
    """The sessions mode; returns one result per slowdown (0 = A/A).

    With ``args.baseline_runs`` K > 1 the A sessions are stored (pytest-benchmark storage) and every
    trial compares with the newest K of them pooled (``--vb-baseline-runs K``), as a CI job does
    against main's stored runs; the first K A sessions only build that baseline."""
    work = Path(tempfile.mkdtemp(prefix="vbench-study-"))
    levels = [s for s in slowdowns if s > 0]
    caught = {s: 0 for s in [0.0, *levels]}
    ratios = {s: [] for s in caught}
    k = args.baseline_runs
    store = ["--benchmark-storage", f"file://{work / 'store'}"]
    started = time.perf_counter()
    figures = [_session(work / f"A{j}.json", 0.0, args, [*store, f"--benchmark-save=A{j}"] if k > 1 else [])[1]
               for j in range(k)]
    for i in range(trials):
        if k > 1:
            compare = [*store, "--benchmark-compare", f"--vb-baseline-runs={k}"]
            save_a = [f"--benchmark-save=A{i + k}"]
        else:
            compare, save_a = [f"--benchmark-compare={work / f'A{i}.json'}"], []
        reference = statistics.median(figures[-k:])
        for s in levels:
            status, figure = _session(work / f"B{i}-{s:g}.json", s, args, compare)
            caught[s] += status == 1
            ratios[s].append(figure / reference)
        status, figure = _session(work / f"A{i + k}.json", 0.0, args, compare + save_a)
        caught[0.0] += status == 1
        ratios[0.0].append(figure / reference)
        figures.append(figure)
        log(f"trial {i + 1}/{trials}: caught so far {caught}")
    seconds = time.perf_counter() - started
    results = [_result(s, trials, caught[s], ratios[s], seconds) for s in caught]
    for r in results:
        log(_line(r))
    return results


# -- ab mode -------------------------------------------------------------------------------------


def _ab_pair(work: Path, tag: str, slowdown: float, args) -> tuple[Path, Path]:
    """Sessions A (no slowdown) and B (``slowdown``) at once, taking turns round by round as under
    ``vbench ab`` (same coordinator, same CPU pinning); returns their JSON files."""
    from vbench.interleave import PairSession, run_pair, session_cpus

    outs = {side: work / f"{tag}-{side}.json" for side in "AB"}
    sessions = {}
    for side, s in (("A", 0.0), ("B", slowdown)):
        cmd, env = _cell_command(outs[side], s, args)
        sessions[side] = PairSession(cmd, REPO, env)
    _, status = run_pair(sessions, args.rounds, session_cpus(sessions["A"].cmd, os.sched_getaffinity(0)))
    for side in "AB":
        if status[side] != 0 or not outs[side].is_file():
            raise RuntimeError(f"study session {tag}-{side} failed ({status[side]})")
    return outs["A"], outs["B"]


def run_ab(slowdowns, trials, args, policy, log=print) -> list[dict]:
    """The ab mode: each trial is ``args.repeats`` session pairs taking turns round by round; B is
    judged against A by the gate's :func:`vbench.compare.compare_runs` (A's sessions pooled)."""
    from vbench.compare import compare_runs, load_run, merge_runs

    work = Path(tempfile.mkdtemp(prefix="vbench-study-ab-"))
    results = []
    for slowdown in slowdowns:
        caught, ratios, started = 0, [], time.perf_counter()
        for i in range(trials):
            pairs = [_ab_pair(work, f"{slowdown:g}-{i}-{r}", slowdown, args) for r in range(args.repeats)]
            a = merge_runs([load_run(p) for p, _ in pairs], "A")
            b = merge_runs([load_run(p) for _, p in pairs], "B")
            report = compare_runs(a, b, policy)
            caught += report.exit_status == 1
            (cell_a,), (cell_b,) = a.cells.values(), b.cells.values()
            ratios.append(statistics.median(cell_b.samples) / statistics.median(cell_a.samples))
        results.append(_result(slowdown, trials, caught, ratios, time.perf_counter() - started))
        log(_line(results[-1]))
    return results


# -- reporting -----------------------------------------------------------------------------------


def _result(slowdown, trials, caught, ratios, seconds, looked=None) -> dict:
    return {
        "slowdown": slowdown,
        "trials": trials,
        "caught": caught,
        "looked_regressed_before_confirmation": looked,
        "measured_slowdown_median": statistics.median(ratios) - 1,
        "measured_slowdown_range": [min(ratios) - 1, max(ratios) - 1],
        "seconds": seconds,
    }


def _line(r: dict) -> str:
    low, high = r["measured_slowdown_range"]
    before = "" if r["looked_regressed_before_confirmation"] is None else \
        f" (looked regressed before confirmation: {r['looked_regressed_before_confirmation']})"
    return (f"slowdown {r['slowdown'] * 100:5.1f}%  measured {r['measured_slowdown_median'] * 100:+6.1f}% "
            f"[{low * 100:+.1f}%, {high * 100:+.1f}%]  regression verdicts {r['caught']:2d}/{r['trials']}{before}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("sessions", "ab", "interleaved"), default="sessions")
    parser.add_argument("--slowdowns", default="10", help="percent, comma-separated (0 = A/A, always run in sessions mode)")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="(minimum) timed rounds per side per trial")
    parser.add_argument("--max-time", type=float, default=0.3, help="sessions: --benchmark-max-time")
    parser.add_argument("--repeats", type=int, default=1, help="ab: session pairs per trial (vbench ab --repeats)")
    parser.add_argument("--baseline-runs", type=int, default=1,
                        help="sessions: judge against the newest N stored A sessions pooled (--vb-baseline-runs N)")
    parser.add_argument("--iterations", type=int, default=3, help="interleaved: forward calls per timed round")
    parser.add_argument("--judge", choices=("time", "probe"), default="time",
                        help="sessions/ab: judge the absolute time metrics, or norm_time alone (--vb-probe on)")
    parser.add_argument("--pairs", type=int, default=60, help="--judge probe: (cell, probe) pairs per cell")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall (perf_counter, vbench's CPU timer) or cpu (this process's CPU time)")
    parser.add_argument("--model", default="gate_study_net",
                        help="sessions/ab: the cell's model; any other than gate_study_net (e.g. resnet18, a smoke "
                             "cell with --img 64) is for A/A trials only (--slowdowns 0)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's choice)")
    parser.add_argument("--fail-on", default=None, help="tolerances as for --vb-fail-on (default: the gate's)")
    parser.add_argument("--alpha", type=float, default=0.01, help="interleaved: significance level")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Memory, RSS and cold start are not what the study injects; the sessions mode turns them off too.
    policy = GatePolicy.build(",".join(filter(None, ["memory:off,rss:off,cold_start:off", args.fail_on])),
                              None, args.alpha)
    slowdowns = [float(s) / 100 for s in args.slowdowns.split(",")]
    if args.model != "gate_study_net" and any(slowdowns):
        parser.error("a slowdown is injected into gate_study_net only; use --slowdowns 0 with --model")
    load_before, started = os.getloadavg(), time.perf_counter()
    if args.mode == "sessions":
        results = run_sessions(slowdowns, args.trials, args)
    elif args.mode == "ab":
        results = run_ab([0.0, *(s for s in slowdowns if s > 0)], args.trials, args, policy)
    else:
        results = run_interleaved(slowdowns, args.trials, args, policy)
    aa = next((r for r in results if r["slowdown"] == 0), None)
    caught_19 = [r["slowdown"] for r in results if r["slowdown"] > 0 and r["caught"] >= 0.95 * r["trials"]]
    study = {
        "command": " ".join(["python", *sys.argv]),
        "mode": args.mode,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "tolerances": dict(policy.tolerances),
        "results": results,
        "false_alarm_rate": aa["caught"] / aa["trials"] if aa else None,
        "smallest_slowdown_caught_19_of_20": min(caught_19) if caught_19 else None,
        "torch_threads": torch.get_num_threads(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "wall_s": time.perf_counter() - started,
    }
    print(f"{args.mode}: false alarms (A/A) {aa['caught'] if aa else '-'}/{aa['trials'] if aa else '-'}; "
          f"smallest slowdown caught in >= 19/20: {study['smallest_slowdown_caught_19_of_20']}; "
          f"load average before/after {load_before[0]:.1f}/{study['loadavg_after'][0]:.1f}; {study['wall_s']:.0f} s")
    if args.out:
        from vbench.compare import atomic_write_text

        atomic_write_text(args.out, json.dumps(study, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
