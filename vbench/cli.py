"""The ``vbench`` command. Thin: it parses arguments and calls the library.

Each subcommand is one ``_add_<name>(subparsers)`` function that registers its parser and sets
``func``; :func:`main` turns a :class:`~vbench.errors.VBenchError` or a bad argument into one line on
stderr and exit status 4, Ctrl-C into 2 and any other exception into one line and 3 (pytest's statuses,
see :class:`~vbench.errors.ExitStatus`).
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from pathlib import Path
from collections.abc import Sequence

from vbench.errors import ExitStatus, VBenchError
from vbench.history.commands import add_bisect, add_history

__all__ = ["main", "build_parser"]


def _cmd_list(args: argparse.Namespace) -> int:
    from vbench.models import list_models
    from vbench.optimizations.plan import OPTIMIZATIONS
    from vbench.profiles import PROFILES

    if args.what == "models":
        names = list_models(args.pattern, include_timm=not args.registered)
        print("\n".join(names))
    elif args.what == "optimizations":
        for name in OPTIMIZATIONS.names(args.pattern):
            opt = OPTIMIZATIONS.get(name)
            devices = ",".join(sorted(opt.devices))
            print(f"{name:<20} {opt.precision:<5} {devices:<9} {opt.description}")
        if fnmatch.fnmatchcase("lora_r8", args.pattern):
            # Made by name on first use (any rank), so not in the registry's list.
            print(f"{'lora_r<N>':<20} {'fp32':<5} {'cpu,cuda':<9} LoRA rank N via peft, unmerged adapters (e.g. lora_r8)")
            print(f"{'lora_r<N>_merged':<20} {'fp32':<5} {'cpu,cuda':<9} LoRA rank N merged into the weights "
                  "(merge_and_unload; inference only)")
    else:
        for profile in PROFILES.values():
            print(f"{profile.name:<10} {profile.description}")
            for entry in profile.entries:
                print(
                    f"    models={','.join(entry.models)} opts={','.join(entry.optimizations)} "
                    f"bs={','.join(map(str, entry.batch_sizes))} img={','.join(map(str, entry.img_sizes))} "
                    f"modes={','.join(entry.modes)}"
                )
    return 0


def _add_list(sub) -> None:
    p = sub.add_parser("list", help="list models, optimizations or profiles")
    p.add_argument("what", choices=("models", "optimizations", "profiles"))
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch filter, e.g. 'vit_*'")
    p.add_argument("--registered", action="store_true", help="models: only registered ones, not timm's")
    p.set_defaults(func=_cmd_list)


def _cmd_report(args: argparse.Namespace) -> int:
    from vbench.report import write_report

    if args.threshold is not None and not 0 <= args.threshold < 1:
        raise VBenchError(f"--threshold must be a fraction in [0, 1), e.g. 0.05, got {args.threshold}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise VBenchError(f"--out {args.out} is a file, not a folder")
    result = write_report(args.runs, args.out, baseline=args.baseline, fail_on=args.fail_on, matrix=args.matrix,
                          threshold=args.threshold)
    hws = result.current["hardware_key"].nunique()
    print(f"{len(result.current)} cells on {hws} hardware key(s) from {len(result.frame.attrs['runs'])} run(s)")
    for hw, report in result.comparisons:
        print(f"{hw}: vbench gate: {report.summary()}")
    for name, path in result.files.items():
        print(f"wrote {path}")
    return 0


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="CSV, Markdown and HTML report (with plots) of saved runs",
                       description="Report of saved runs. Baseline vs current is the regression gate's: per "
                                   "hardware key the newest run is judged against the earlier ones as baseline "
                                   "sessions, exactly as `vbench compare EARLIER... NEWEST` would judge it.")
    p.add_argument("runs", nargs="+", metavar="RUN", help="pytest-benchmark JSON files or storage folders")
    p.add_argument("--out", default="vbench-report", metavar="DIR", help="output folder (default: vbench-report)")
    p.add_argument("--baseline", metavar="RUN", help="run label (file stem) to compare the others with "
                   "(default: every earlier run of each hardware key, as baseline sessions of its newest)")
    p.add_argument("--fail-on", help="the gate's tolerances on top of the device's defaults, e.g. "
                   "'relative:5%%,rss:off' (as vbench compare --fail-on; docs/gate.md)")
    p.add_argument("--matrix", help="matrix YAML whose gate: block gives per-cell tolerances")
    p.add_argument("--threshold", type=float, default=None, metavar="F",
                   help="the gate's time tolerance as a fraction: the same as --fail-on time:F,relative:F "
                        "(default: the device's defaults)")
    p.set_defaults(func=_cmd_report)


def _cmd_viz(args: argparse.Namespace) -> int:
    from vbench.report.viz import module_tree
    from vbench.report.viz_html import serve, viz_html

    if args.img_size is not None and args.img_size <= 0:
        raise VBenchError(f"--img-size must be a positive integer, got {args.img_size}")
    tree = module_tree(args.model, args.img_size)
    page = viz_html(tree)
    out = args.out or f"{args.model}-viz.html"
    with open(out, "w", encoding="utf-8") as fh:
        fh.write(page)
    print(f"wrote {out}: {tree.count()} modules, {tree.root.params:,} params, {tree.root.gmacs:.3f} GMACs")
    if args.serve:
        serve(page, args.port, on_ready=lambda url: print(f"serving on {url} (Ctrl-C stops)", flush=True))
    return 0


def _add_viz(sub) -> None:
    p = sub.add_parser("viz", help="interactive module tree of a model (shapes, params, GMACs, activations)")
    p.add_argument("model", help="a timm model name or a registered model")
    p.add_argument("--img-size", type=int, metavar="N", help="input size in px (default: the model's)")
    p.add_argument("--out", metavar="FILE", help="HTML file to write (default: MODEL-viz.html)")
    p.add_argument("--serve", action="store_true", help="also serve the page on http://127.0.0.1:PORT/")
    p.add_argument("--port", type=int, default=8000, help="port for --serve (default: 8000; 0 = any free port)")
    p.set_defaults(func=_cmd_viz)


def _gate_output(report, args) -> int:
    from vbench.compare import atomic_write_text, render_json, render_markdown, render_text

    print(render_text(report, None if args.all else 60))
    if args.md:
        atomic_write_text(args.md, render_markdown(report))
    if args.json:
        atomic_write_text(args.json, render_json(report))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        from vbench.compare.io import append_text

        append_text(os.environ["GITHUB_STEP_SUMMARY"], render_markdown(report))
    return report.exit_status


def _gate_arguments(p) -> None:
    p.add_argument("--fail-on", help="tolerances on top of the device's defaults, e.g. 'relative:5%%,rss:off' "
                   "(docs/gate.md)")
    p.add_argument("--matrix", help="matrix YAML whose gate: block gives per-cell overrides")
    p.add_argument("--alpha", type=float, default=0.01,
                   help="run-level false-alarm level over all checks (default 0.01, Bonferroni)")
    p.add_argument("--fail-on-inconclusive", action="store_true", help="exit 1 on an inconclusive verdict too")
    p.add_argument("--md", help="also write the verdicts as Markdown to this file")
    p.add_argument("--json", help="also write the verdicts as JSON to this file")
    p.add_argument("--all", action="store_true", help="print every row, unchanged ones included")


def _policy(args: argparse.Namespace, device_type: str):
    from vbench.compare import GatePolicy

    return GatePolicy.build(args.fail_on, args.matrix, args.alpha, device_type=device_type,
                            fail_on_inconclusive=args.fail_on_inconclusive, option="--fail-on")


def _cmd_compare(args: argparse.Namespace) -> int:
    from vbench.compare import compare_sessions, load_run

    baselines, current = [load_run(path) for path in args.baseline], load_run(args.current)
    device = next((c.extra.get("device") for c in current.cells.values() if c.extra.get("device")), "cpu")
    report = compare_sessions(baselines, current, _policy(args, str(device)), allow_foreign=args.allow_foreign_baseline,
                              keep=args.keep)
    if len(baselines) < 3:
        report.notes.insert(0, f"{len(baselines)} baseline session(s): the bounds are wide; 3-5 sessions judge better")
    return _gate_output(report, args)


def _add_compare(sub) -> None:
    p = sub.add_parser("compare", help="judge CURRENT.json against BASELINE.json [...] (exit 1 on a regression)",
                       description="Offline regression gate: the verdicts and exit status of a gated pytest run, "
                                   "for files produced elsewhere. Exit status: 0 pass, 1 regression, 2 interrupted, 4 bad input.")
    p.add_argument("baseline", nargs="+", help="pytest-benchmark JSON of the baseline sessions, oldest first; "
                   "each is one session (3-5 give tight bounds)")
    p.add_argument("current", help="pytest-benchmark JSON of the run to judge")
    p.add_argument("--keep", type=int, default=None, metavar="K",
                   help="judge against the newest K of the given sessions left after whole-session outliers "
                        "(the gate reads K + 2 stored sessions and keeps 5: its JSON lists them in baseline_files)")
    p.add_argument("--allow-foreign-baseline", action="store_true",
                   help="compare even when the hardware keys differ (rows marked cross-hardware)")
    _gate_arguments(p)
    p.set_defaults(func=_cmd_compare)


def _cmd_ab(args: argparse.Namespace) -> int:
    from vbench.compare.ab import run_ab

    result = run_ab(args.rev_a, args.rev_b, args.passthrough or ["bench"], repeats=args.repeats, rounds=args.rounds,
                    policy=lambda device_type: _policy(args, device_type), workdir=args.keep_json,
                    log=lambda line: print(line, file=sys.stderr))
    status = _gate_output(result.report, args)
    for cell, speedup in result.speedup.items():
        print(f"speedup B/A {cell}: {speedup:.3f}x")
    return status


def _add_ab(sub) -> None:
    p = sub.add_parser("ab", help="A/B two git revisions on this machine, timed rounds interleaved A B A B",
                       description="Checks REV_A and REV_B out in temporary git worktrees, runs pytest with the "
                                   "given arguments in each (two sessions at once that take turns round by round), "
                                   "and judges B against A. "
                                   "Exit status: 0 pass, 1 B regressed, 2 interrupted, 4 bad input or a failed session.")
    p.add_argument("rev_a", help="baseline revision (branch, tag or commit)")
    p.add_argument("rev_b", help="candidate revision")
    p.add_argument("--repeats", type=int, default=3, help="session pairs (default 3)")
    p.add_argument("--rounds", type=int, default=30, help="timed rounds per cell and session (default 30)")
    p.add_argument("--keep-json", metavar="DIR", help="keep every session's JSON in DIR")
    _gate_arguments(p)
    p.epilog = "Arguments after -- go to pytest in both worktrees (default: bench)."
    p.set_defaults(func=_cmd_ab)
def _cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from vbench.tools.doctor import format_checks, run_doctor

    checks = run_doctor()
    print(json.dumps([c.as_dict() for c in checks], indent=2) if args.json else format_checks(checks))
    return 0  # warnings only: a machine is never refused here


def _add_doctor(sub) -> None:
    p = sub.add_parser("doctor", help="machine readiness: GPU, driver/CUDA, other processes, clocks, governor, "
                       "memory, threads (reads only, changes nothing)")
    p.add_argument("--json", action="store_true", help="print the checks as JSON")
    p.set_defaults(func=_cmd_doctor)


def _load_registrations(target: str) -> None:
    """Import a Python file (a conftest.py with ``@register_model`` functions) or a module by name."""
    import importlib
    import importlib.util

    path = Path(target)
    if path.suffix == ".py" or path.is_file():
        if not path.is_file():
            raise VBenchError(f"--load {target}: no such file")
        spec = importlib.util.spec_from_file_location(f"vbench_user_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports, as pytest's rootdir would
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            raise VBenchError(f"--load {target}: {type(exc).__name__}: {exc}") from None
        return
    try:
        importlib.import_module(target)
    except ImportError as exc:
        raise VBenchError(f"--load {target}: {exc}") from None


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on a bad argument; 2 means "interrupted" in pytest's statuses, so usage is 4."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.USAGE_ERROR, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(prog="vbench", description="vision model benchmark suite (see README)")
    parser.add_argument("--load", action="append", default=[], metavar="FILE|MODULE",
                        help="import this file (e.g. your conftest.py) or module first, so models and "
                             "optimizations it registers are known to list, viz and the rest (repeatable)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_list(sub)
    _add_report(sub)
    _add_viz(sub)
    _add_compare(sub)
    _add_ab(sub)
    add_history(sub)
    add_bisect(sub)
    _add_doctor(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbench`` console script; returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    # Everything after a bare "--" is passed through untouched (vbench ab ... -- PYTEST ARGS).
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.passthrough = argv[cut + 1:]
    try:
        import vbench  # noqa: F401 - registers built-in optimizations

        for target in args.load:
            _load_registrations(target)
        return args.func(args)
    except VBenchError as exc:
        print(f"vbench: error: {exc}", file=sys.stderr)
        return ExitStatus.USAGE_ERROR
    except KeyboardInterrupt:
        print("vbench: interrupted", file=sys.stderr)
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:  # `vbench list models | head`: the reader left; not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush does not fail again
        return ExitStatus.OK
    except Exception as exc:  # a bug of ours: one line (the traceback on request), never the regression status
        if os.environ.get("VBENCH_TRACEBACK"):
            raise
        where = exc.__traceback__
        while where is not None and where.tb_next is not None:
            where = where.tb_next
        at = f" at {Path(where.tb_frame.f_code.co_filename).name}:{where.tb_lineno}" if where else ""
        print(f"vbench: internal error: {type(exc).__name__}: {exc}{at} (VBENCH_TRACEBACK=1 shows the traceback)",
              file=sys.stderr)
        return ExitStatus.INTERNAL_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
