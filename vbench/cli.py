"""The ``vbench`` command. Thin: it parses arguments and calls the library.

Each subcommand is one ``_add_<name>(subparsers)`` function that registers its parser and sets
``func``; :func:`main` turns a :class:`~vbench.errors.VBenchError` into one line on stderr and exit
status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from vbench.errors import VBenchError

__all__ = ["main", "build_parser"]


def _cmd_list(args: argparse.Namespace) -> int:
    from vbench.models import list_models
    from vbench.optimize import OPTIMIZATIONS
    from vbench.profiles import PROFILES

    if args.what == "models":
        names = list_models(args.pattern, include_timm=not args.registered)
        print("\n".join(names))
    elif args.what == "optimizations":
        for name in OPTIMIZATIONS.names(args.pattern):
            opt = OPTIMIZATIONS.get(name)
            devices = ",".join(sorted(opt.devices))
            print(f"{name:<16} {opt.precision:<5} {devices:<9} {opt.description}")
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="vbench", description="vision model benchmark suite (see README)")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_list(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbench`` console script; returns the exit status."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        import vbench  # noqa: F401 - registers built-in optimizations

        return args.func(args)
    except VBenchError as exc:
        print(f"vbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vbench: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
