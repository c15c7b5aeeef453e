"""Round-by-round interleaving of two pytest sessions, for ``vbench ab``: A B A B ... on one machine.

Two revisions' code cannot share a process, so each side of an A/B comparison is its own pytest
session. A :class:`TurnCoordinator` in ``vbench ab`` hands out turns over a local socket; each
session's runner asks for the turn before every timed round of a cell (pytest-benchmark's ``setup``
hook, outside the timed region) and reports when the cell's rounds are over. Rounds of the same cell
alternate between the sides, and while one side times a round the other is blocked, so neither
measures the other's work and machine drift lands on both sides alike.

Protocol (one text line per message, one byte ``g`` per granted turn)::

    side -> coordinator   hello A | ready KEY | idle
    coordinator -> side   g

KEY is a cell id for one of its timed rounds, or ``<cell id> cold start`` / ``<cell id> gate`` for
the measured work around them; turns on the same key alternate between the sides.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vbench.errors import VBenchError

__all__ = [
    "SIDES", "InterleaveSpec", "parse_interleave", "TurnClient", "TurnCoordinator", "TurnStats",
    "session_cpus", "pinned_to", "revision_first", "failed_side", "PairSession", "run_pair",
]

SIDES = ("A", "B")
GRANT = b"g"


@dataclass(frozen=True)
class InterleaveSpec:
    """Which side this session is and where its coordinator listens."""

    side: str
    host: str
    port: int
    rounds: int

    @property
    def option(self) -> str:
        return f"{self.side}@{self.host}:{self.port}"


def parse_interleave(text: str | None, rounds: int) -> InterleaveSpec | None:
    """``SIDE@HOST:PORT`` (``--vb-interleave``) with ``rounds`` timed rounds per cell; None when unset."""
    if not text:
        return None
    side, at, address = text.partition("@")
    host, colon, port = address.rpartition(":")
    if not at or side not in SIDES or not colon or not host or not port.isdigit():
        raise VBenchError(f"--vb-interleave must be SIDE@HOST:PORT with SIDE A or B, got {text!r}")
    if rounds < 1:
        raise VBenchError(f"--vb-interleave-rounds must be >= 1, got {rounds}")
    return InterleaveSpec(side, host, int(port), rounds)


class TurnClient:
    """One session's end of the turn-taking: :meth:`before_round` before each measured piece of work
    (a timed round, a cold start), :meth:`release` when this side has nothing measured to do."""

    def __init__(self, spec: InterleaveSpec, timeout_s: float | None = None):
        self.spec = spec
        try:
            self._sock = socket.create_connection((spec.host, spec.port), timeout=10)
        except OSError as exc:
            raise VBenchError(f"--vb-interleave: no coordinator at {spec.host}:{spec.port} ({exc.strerror or exc})") from None
        # A turn may wait for the other side's model build or compile: no timeout by default.
        self._sock.settimeout(timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._send(f"hello {spec.side}")

    def _send(self, line: str) -> None:
        try:
            self._sock.sendall(line.encode() + b"\n")
        except OSError as exc:
            raise VBenchError(f"--vb-interleave: lost the coordinator ({exc.strerror or exc})") from None

    def before_round(self, key: str) -> None:
        """Block until the coordinator gives this side the turn for ``key`` (a cell id for one of its
        rounds; rounds of the same key alternate with the other side). Ends this side's last turn."""
        self._send(f"ready {key}")
        try:
            granted = self._sock.recv(1) == GRANT
        except OSError as exc:
            raise VBenchError(f"--vb-interleave: lost the coordinator ({exc.strerror or exc})") from None
        if not granted:
            raise VBenchError("--vb-interleave: the coordinator went away")

    def release(self) -> None:
        """This side's measured work is over for now (a cell's rounds, its cold start): the other
        side may take its turns without this one. Best effort: called on the way out of errors too."""
        try:
            self._send("idle")
        except VBenchError:
            pass

    def close(self) -> None:
        self._sock.close()


@dataclass
class TurnStats:
    """How the rounds went: ``paired`` rounds were granted while both sides waited on the same cell
    (true A B alternation); ``unpaired`` ones ran while the other side had gone or was elsewhere."""

    paired: int = 0
    unpaired: int = 0
    cells: dict[str, int] = field(default_factory=dict)


class TurnCoordinator:
    """Hands out turns to sides A and B (see the module docstring); listens on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1"):
        self._server = socket.create_server((host, 0))
        self.host, self.port = self._server.getsockname()[:2]
        self.stats = TurnStats()
        self._state = {s: "absent" for s in SIDES}  # absent, idle, waiting, running, gone
        self._cell: dict[str, str] = {}
        self._conn: dict[str, socket.socket] = {}
        self._last: str | None = None
        self._granted: dict[str, str] = {}  # the key of each side's last turn

    def spec(self, side: str, rounds: int) -> InterleaveSpec:
        return InterleaveSpec(side, self.host, self.port, rounds)

    def serve(self, processes: Mapping[str, subprocess.Popen], poll_s: float = 0.2) -> TurnStats:
        """Coordinate until both processes have exited; returns the round statistics."""
        sel = selectors.DefaultSelector()
        sel.register(self._server, selectors.EVENT_READ, None)
        buffers: dict[socket.socket, bytes] = {}
        try:
            while any(p.poll() is None for p in processes.values()) or any(
                    s in ("idle", "waiting", "running") for s in self._state.values()):
                if any(p.poll() not in (None, 0) for p in processes.values()):
                    break  # a side failed: the run is lost, the caller stops the other side
                for key, _ in sel.select(timeout=poll_s):
                    if key.data is None:
                        conn, _ = self._server.accept()
                        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        sel.register(conn, selectors.EVENT_READ, "")
                        buffers[conn] = b""
                        continue
                    conn = key.fileobj
                    try:
                        chunk = conn.recv(4096)
                    except OSError:  # reset by a side that died
                        chunk = b""
                    if not chunk:
                        sel.unregister(conn)
                        self._gone(conn)
                        conn.close()
                        continue
                    buffers[conn] += chunk
                    while b"\n" in buffers[conn]:
                        line, buffers[conn] = buffers[conn].split(b"\n", 1)
                        self._message(conn, line.decode())
                for side, proc in processes.items():  # a side killed before it said hello
                    if proc.poll() is not None and self._state[side] == "absent":
                        self._state[side] = "gone"
                self._grant()
        finally:
            sel.close()
            self.close()
        return self.stats

    def close(self) -> None:
        """Close the listening socket and every connection (idempotent)."""
        for conn in self._conn.values():
            conn.close()
        self._server.close()

    def _message(self, conn: socket.socket, line: str) -> None:
        word, _, arg = line.partition(" ")
        if word == "hello":
            if arg not in SIDES or self._state[arg] != "absent":
                conn.close()
                raise VBenchError(f"vbench ab: unexpected session {arg!r} (one session per side; no -n with ab)")
            self._conn[arg] = conn
            self._state[arg] = "idle"
            return
        side = next((s for s, c in self._conn.items() if c is conn), None)
        if side is None:
            return  # a message before hello: not one of ours
        if word == "ready":
            self._state[side], self._cell[side] = "waiting", arg
        elif word == "idle":
            self._state[side] = "idle"

    def _gone(self, conn: socket.socket) -> None:
        for side, c in self._conn.items():
            if c is conn:
                self._state[side] = "gone"

    def _grant(self) -> None:
        state = self._state
        if "running" in state.values():
            return
        waiting = [s for s in SIDES if state[s] == "waiting"]
        if not waiting:
            return
        if len(waiting) == 2:
            side = "B" if self._last == "A" else "A"
        else:
            side = waiting[0]
            if state[_other(side)] in ("idle", "absent"):
                return  # it is building or checking; it will most likely come to this cell next
        other, cell = _other(side), self._cell[side]
        # Paired: this round sits next to one of the other side's on the same cell.
        paired = (state[other] == "waiting" and self._cell[other] == cell) or (
            self._last == other and self._granted.get(other) == cell)
        if paired:
            self.stats.paired += 1
        else:
            self.stats.unpaired += 1
        self.stats.cells[cell] = self.stats.cells.get(cell, 0) + 1
        state[side], self._last, self._granted[side] = "running", side, cell
        self._conn[side].sendall(GRANT)


def _other(side: str) -> str:
    return "B" if side == "A" else "A"


def session_cpus(pytest_args: Sequence[str], available: Iterable[int] | None = None) -> tuple[int, ...]:
    """The CPUs both sessions of a pair run on: one set for both, so a side never starts its round
    on a core the other side left idle. On a shared 2-core VM, one-thread sessions left to
    the scheduler timed the same cell 1-30% apart (A B A B round by round); pinned to one core, six
    A/A pairs agreed within 2%. With ``--vb-threads N`` in ``pytest_args`` the first N ``available`` CPUs,
    else all of them; ``available`` defaults to the CPUs this process may run on."""
    if available is None:
        available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cpus = tuple(sorted(available))
    threads = None
    for i, arg in enumerate(pytest_args):
        if arg == "--vb-threads" and i + 1 < len(pytest_args):
            threads = pytest_args[i + 1]
        elif arg.startswith("--vb-threads="):
            threads = arg.split("=", 1)[1]
    if threads and threads.isdigit() and 0 < int(threads) < len(cpus):
        return cpus[: int(threads)]
    return cpus


def pinned_to(cpus: Sequence[int]) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning a child process to ``cpus`` (None where the OS cannot)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def revision_first(env: Mapping[str, str], tree: Path) -> dict[str, str]:
    """``env`` with ``tree`` (a checkout of one revision) first on ``PYTHONPATH``: that side imports
    its own revision's code (vbench included, when the revision holds it)."""
    rest = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join([str(tree), *rest])}


def failed_side(status: Mapping[str, int], outputs: Mapping[str, Path]) -> str | None:
    """The side of a pair that failed (exited non-zero or wrote no output), the one that failed first
    rather than the one :func:`run_pair` stopped (negative status); None when both succeeded."""
    for side in sorted(status, key=lambda s: status[s] < 0):
        if status[side] != 0 or not outputs[side].is_file():
            return side
    return None


@dataclass(frozen=True)
class PairSession:
    """One side's pytest command (without the turn-taking options), where it runs and where its
    output goes (None: discarded)."""

    cmd: list[str]
    cwd: Path
    env: dict[str, str]
    log: Path | None = None


def run_pair(sessions: Mapping[str, PairSession], rounds: int, cpus: Sequence[int]) -> tuple[TurnStats, dict[str, int]]:
    """Run sessions A and B at once, pinned to ``cpus``, taking turns through a fresh coordinator
    with ``rounds`` timed rounds per cell; returns the turn statistics and each side's exit status.
    When one side fails the other is stopped (its status is then negative)."""
    coordinator = TurnCoordinator()
    procs: dict[str, subprocess.Popen] = {}
    try:
        for side in SIDES:
            session = sessions[side]
            cmd = [*session.cmd, f"--vb-interleave={coordinator.spec(side, rounds).option}",
                   f"--vb-interleave-rounds={rounds}"]
            with open(session.log or os.devnull, "w") as log:  # a pipe could fill and block the side
                procs[side] = subprocess.Popen(cmd, cwd=session.cwd, env=session.env, stdout=log,
                                               stderr=subprocess.STDOUT, preexec_fn=pinned_to(cpus))
        stats = coordinator.serve(procs)
    finally:
        coordinator.close()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in procs.values():
            proc.wait()
    return stats, {side: proc.returncode for side, proc in procs.items()}
