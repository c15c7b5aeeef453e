"""The ``vbench history`` and ``vbench bisect`` subcommands (registered by :mod:`vbench.cli`; thin:
they parse arguments and call :mod:`vbench.history`)."""

from __future__ import annotations

import argparse
import sys

from vbench.compare.policy import DEFAULT_BASELINE_RUNS
from vbench.errors import VBenchError

__all__ = ["add_history", "add_bisect"]


def _policy(args: argparse.Namespace, device_type: str):
    from vbench.compare import GatePolicy

    return GatePolicy.build(args.fail_on, args.matrix, args.alpha, device_type=device_type, option="--fail-on")


def _since(text: str | None):
    from datetime import datetime, timezone

    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        raise VBenchError(f"--since must be a date or time like 2026-01-31 or 2026-01-31T12:00, got {text!r}") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def _cmd_history(args: argparse.Namespace) -> int:
    from vbench.history import history_of, write_history

    result = history_of(args.runs or [".benchmarks"], hardware=args.hardware, keyword=args.keyword,
                        since=_since(args.since), alpha=args.alpha, baseline_runs=args.baseline_runs,
                        fail_on=args.fail_on, matrix=args.matrix, device=args.device)
    write_history(result, args.out)
    print(result.files["history.md"].read_text(), end="")
    for path in result.files.values():
        print(f"wrote {path}")
    return 0


def add_history(sub) -> None:
    p = sub.add_parser("history", help="trends and change points per cell and metric over stored sessions",
                       description="Orders stored sessions of one hardware key by commit time and finds the steps "
                                   "of every cell and metric (E-divisive means with a permutation test). Writes "
                                   "history.md, history.json and history.html (docs/history.md).")
    p.add_argument("runs", nargs="*", metavar="STORAGE|RUN",
                   help="storage folders (searched for JSON) or pytest-benchmark JSON files (default: .benchmarks)")
    p.add_argument("-k", dest="keyword", metavar="EXPR", help="only cells matching this expression, as pytest -k")
    p.add_argument("--since", metavar="DATE", help="only sessions whose commit (else run) time is at or after DATE")
    p.add_argument("--hardware", metavar="KEY", help="the hardware key to show (default: the newest session's)")
    p.add_argument("--alpha", type=float, default=0.05, help="p-value a step needs (permutation test; default 0.05)")
    p.add_argument("--baseline-runs", type=int, default=DEFAULT_BASELINE_RUNS, metavar="K",
                   help=f"the gate's baseline sessions, shaded in the plots (default {DEFAULT_BASELINE_RUNS}, "
                        "as --vb-baseline-runs)")
    p.add_argument("--fail-on", help="the gate's tolerances, which decide which steps start a new baseline")
    p.add_argument("--matrix", help="matrix YAML whose gate: block gives per-cell tolerances")
    p.add_argument("--device", choices=("cpu", "cuda"), help="whose default tolerances (default: the sessions')")
    p.add_argument("--out", default="vbench-history", metavar="DIR", help="output folder (default: vbench-history)")
    p.set_defaults(func=_cmd_history)


def _cmd_bisect(args: argparse.Namespace) -> int:
    import json

    from vbench.compare.io import atomic_write_text
    from vbench.history.bisect import run_bisect

    result = run_bisect(args.good, args.bad, args.passthrough or ["bench"], step_pairs=args.pairs,
                        max_pairs=args.max_pairs, rounds=args.rounds,
                        policy=lambda device_type: _policy(args, device_type),
                        log=lambda line: print(line, flush=True) if line.startswith("step ") else print(line, file=sys.stderr))
    print(f"vbench bisect: {result.message}")
    if args.json:
        atomic_write_text(args.json, json.dumps(result.as_dict(), indent=1))
    return result.exit_status


def add_bisect(sub) -> None:
    p = sub.add_parser("bisect", help="find the first commit between GOOD and BAD that is slower than GOOD",
                       description="Binary search over the commits after GOOD up to BAD (first parent). Each step "
                                   "measures one commit against GOOD with vbench ab's interleaved session pairs and "
                                   "the gate's verdicts; inconclusive ones get more pairs; a commit that does not "
                                   "build or run is skipped. Exit status: 0 first bad commit found, 1 not found "
                                   "(BAD not slower, or skipped commits leave several), 2 interrupted, 4 bad input or GOOD fails.")
    p.add_argument("good", help="a revision without the slowdown")
    p.add_argument("bad", help="a later revision with it")
    p.add_argument("--pairs", type=int, default=2, help="session pairs per measurement (default 2)")
    p.add_argument("--max-pairs", type=int, default=6, help="at most this many pairs per commit while "
                   "inconclusive (default 6)")
    p.add_argument("--rounds", type=int, default=20, help="timed rounds per cell and session (default 20)")
    p.add_argument("--fail-on", help="tolerances on top of the device's defaults (what counts as slower)")
    p.add_argument("--matrix", help="matrix YAML whose gate: block gives per-cell overrides")
    p.add_argument("--alpha", type=float, default=0.01, help="false-alarm level over each step's checks (default 0.01)")
    p.add_argument("--json", metavar="FILE", help="also write the steps and the result as JSON")
    p.epilog = "Arguments after -- go to pytest at every commit (default: bench)."
    p.set_defaults(func=_cmd_bisect)
