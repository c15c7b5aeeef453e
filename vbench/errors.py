"""User-facing errors: each renders as one line, without a traceback."""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable

__all__ = ["ExitStatus", "VBenchError", "UnknownNameError", "close_matches", "telling_line"]


class ExitStatus(enum.IntEnum):
    """Exit statuses of ``pytest bench`` and of every ``vbench`` subcommand: pytest's own, so a CI script
    tells a regression (1) from an interrupted run (2), a crash (3) and bad input (4)."""

    OK = 0
    REGRESSION = 1  # pytest: TESTS_FAILED (a guard failure or a gated regression)
    INTERRUPTED = 2
    INTERNAL_ERROR = 3
    USAGE_ERROR = 4


class VBenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


def telling_line(output: str) -> str:
    """The line of a child process's output that says what went wrong: its first ``ERROR`` line,
    else its last non-empty line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return next((ln for ln in lines if ln.startswith("ERROR")), lines[-1] if lines else "no output")


def close_matches(name: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` names from ``candidates`` that look like ``name`` (difflib ratio >= 0.6)."""
    return difflib.get_close_matches(name, list(candidates), n=n, cutoff=0.6)


class UnknownNameError(VBenchError, KeyError):
    """An unknown model or optimization name; the message names the close matches."""

    def __init__(self, kind: str, name: str, candidates: Iterable[str]):
        self.kind, self.name = kind, name
        self.suggestions = close_matches(name, candidates)
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (`vbench list {kind}s` shows them all)")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]
