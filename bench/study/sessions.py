"""Run whole-profile benchmark sessions one after another, as a user's CI would, and log each one.

    python bench/study/sessions.py --out DIR --count 20 [--compare] [--inject resnet:block --no-save] [-- PYTEST ARGS]
    python bench/study/sessions.py --out DIR --compare --change resnet:stage_x2 --no-save

``--inject`` loads the extra work as a plugin from the environment, so every process of the run has
it (the A/B pairs' baseline side too: use it with ``--vb-confirm-ab off``); ``--change`` writes it
into this checkout's working tree as ``bench/conftest.py`` for the session, as a user's uncommitted
change: the A/B pairs' baseline side (a worktree of the stored sessions' commit) runs without it.

Each session is ``python -m pytest bench -p no:cacheprovider --benchmark-autosave
--benchmark-storage=file://DIR/storage`` (plus ``--benchmark-compare --vb-verdict-json`` with
``--compare``, judged by the real gate against the newest stored sessions). One line per session goes
to ``DIR/sessions.jsonl``: start, wall seconds, exit status, load average before and after, the
injection, the verdict file, the command. Stored sessions and verdicts stay in DIR for the analysis
(``bench/study/analyze.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["main"]


def _commit(root: Path) -> str:
    """The commit of the code under study (the checkout the sessions run from)."""
    proc = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip()


CHANGE_FILE = "bench/conftest.py"
CHANGE = """import pathlib, sys
sys.path.insert(0, str(pathlib.Path(__file__).parent / "study"))
from inject_slowdown import install, parse_injection
install(*parse_injection({spec!r}))
"""


def _session(root: Path, out: Path, index: int, compare: bool, inject: str | None, extra: list[str],
             save: bool = True, change: str | None = None) -> dict:
    verdict = out / "verdicts" / f"{index:04d}.json"
    verdict.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider",
           f"--benchmark-storage=file://{out / 'storage'}"]
    if save:
        cmd.append("--benchmark-autosave")
    else:  # judged against the stored sessions, never one of them (injected slowdowns)
        (out / "runs").mkdir(exist_ok=True)
        cmd.append(f"--benchmark-json={out / 'runs' / f'{index:04d}.json'}")
    if compare:
        cmd += ["--benchmark-compare", f"--vb-verdict-json={verdict}"]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    if inject:
        cmd += ["-p", "inject_slowdown"]
        env["VBENCH_INJECT"] = inject
        env["PYTHONPATH"] = os.pathsep.join([str(root / "bench" / "study"), env.get("PYTHONPATH", "")])
    cmd += extra
    load_before = os.getloadavg()[0]
    start = time.time()
    log = out / "logs" / f"{index:04d}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    changed = root / CHANGE_FILE
    if change:
        changed.write_text(CHANGE.format(spec=change))
    try:
        with log.open("w") as fh:
            status = subprocess.run(cmd, cwd=root, env=env, stdout=fh, stderr=subprocess.STDOUT).returncode
    finally:
        if change:
            changed.unlink()
    return {
        "index": index, "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(start)),
        "wall_s": round(time.time() - start, 1), "exit": status, "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2), "inject": inject or change, "in_tree": bool(change), "compare": compare,
        "verdict": str(verdict.relative_to(out)) if verdict.is_file() else None, "saved": save,
        "log": str(log.relative_to(out)), "command": " ".join(cmd), "commit": _commit(root),
    }


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--inject", default=None, help="FAMILY:UNIT for inject_slowdown.py, e.g. resnet:block")
    parser.add_argument("--change", default=None, help=f"FAMILY:UNIT written into the working tree as {CHANGE_FILE} "
                        "for the session (seen by this checkout only, not by a worktree of the stored commit)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not store the session (its JSON goes to DIR/runs/): judged, never a baseline")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parents[2]
    if args.change and (root / CHANGE_FILE).exists():
        parser.error(f"{CHANGE_FILE} exists: --change writes it")
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    journal = out / "sessions.jsonl"
    done = sum(1 for _ in journal.open()) if journal.is_file() else 0
    for i in range(args.count):
        if (out / "PAUSE").exists():  # a way to change the code under study between two sessions
            print("paused: DIR/PAUSE exists", flush=True)
            break
        record = _session(root, out, done + i + 1, args.compare, args.inject, extra, save=not args.no_save,
                          change=args.change)
        with journal.open("a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
