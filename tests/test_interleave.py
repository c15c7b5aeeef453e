"""Turn-taking between two processes (vbench ab): real subprocesses, real sockets, recorded clocks."""

import json
import subprocess
import sys
import textwrap

import pytest

from vbench.errors import VBenchError
from vbench.interleave import TurnCoordinator, parse_interleave

# One side: a TurnClient taking ``rounds`` turns per key and recording when each turn ran.
SIDE = textwrap.dedent("""
    import json, sys, time
    from vbench.interleave import TurnClient, parse_interleave
    spec = parse_interleave(sys.argv[1], 1)
    keys, rounds, out = sys.argv[2].split(","), int(sys.argv[3]), sys.argv[4]
    client, spans = TurnClient(spec), []
    time.sleep(float(sys.argv[5]))  # a slow start: the other side must wait for this one
    for key in keys:
        for _ in range(rounds):
            client.before_round(key)
            start = time.monotonic(); time.sleep(0.005); spans.append([key, start, time.monotonic()])
        client.release()
    json.dump(spans, open(out, "w"))
""")


def run_sides(tmp_path, keys, rounds=4, delays=(0.0, 0.3)):
    coordinator = TurnCoordinator()
    procs = {}
    for side, key_list, delay in zip("AB", keys, delays):
        spec = coordinator.spec(side, rounds).option
        procs[side] = subprocess.Popen([sys.executable, "-c", SIDE, spec, key_list, str(rounds),
                                        str(tmp_path / f"{side}.json"), str(delay)])
    stats = coordinator.serve(procs)
    assert all(p.wait(timeout=30) == 0 for p in procs.values())
    spans = [(side, *span) for side in "AB" for span in json.loads((tmp_path / f"{side}.json").read_text())]
    return stats, sorted(spans, key=lambda s: s[2])


def test_rounds_of_the_same_cell_alternate_and_never_overlap(tmp_path):
    stats, spans = run_sides(tmp_path, ["c1,c2", "c1,c2"])
    assert [s[0] for s in spans] == ["A", "B"] * 8  # A B A B ... through both cells, despite B's slow start
    assert [s[1] for s in spans] == ["c1"] * 8 + ["c2"] * 8
    for before, after in zip(spans, spans[1:]):
        assert before[3] <= after[2]  # one side's round ends before the other's begins
    assert (stats.paired, stats.unpaired) == (16, 0)
    assert stats.cells == {"c1": 8, "c2": 8}


def test_cells_only_one_side_has_still_run_without_deadlock(tmp_path):
    stats, spans = run_sides(tmp_path, ["only_a,both", "both,only_b"], rounds=3)
    assert sorted((s[0], s[1]) for s in spans) == sorted(
        [("A", "only_a")] * 3 + [("A", "both")] * 3 + [("B", "both")] * 3 + [("B", "only_b")] * 3)
    for before, after in zip(spans, spans[1:]):
        assert before[3] <= after[2]
    assert stats.paired + stats.unpaired == 12 and stats.unpaired > 0


def test_a_side_that_ends_without_connecting_does_not_hang_the_other(tmp_path):
    coordinator = TurnCoordinator()
    spec = coordinator.spec("A", 3).option
    procs = {
        "A": subprocess.Popen([sys.executable, "-c", SIDE, spec, "c1", "3", str(tmp_path / "A.json"), "0"]),
        "B": subprocess.Popen([sys.executable, "-c", "pass"]),  # e.g. every cell deselected on that side
    }
    stats = coordinator.serve(procs)
    assert procs["A"].wait(timeout=30) == 0 and procs["B"].wait(timeout=30) == 0
    assert (stats.paired, stats.unpaired) == (0, 3)


@pytest.mark.parametrize("text", ["C@127.0.0.1:5", "A127.0.0.1:5", "A@127.0.0.1", "A@:5", "A@host:port"])
def test_bad_interleave_option_is_one_line_error(text):
    with pytest.raises(VBenchError, match="--vb-interleave must be SIDE@HOST:PORT"):
        parse_interleave(text, 10)


def test_interleave_option_parses():
    spec = parse_interleave("B@127.0.0.1:4711", 25)
    assert (spec.side, spec.host, spec.port, spec.rounds, spec.option) == ("B", "127.0.0.1", 4711, 25, "B@127.0.0.1:4711")
    assert parse_interleave(None, 25) is None
    with pytest.raises(VBenchError, match="rounds must be >= 1"):
        parse_interleave("A@127.0.0.1:1", 0)


def test_no_coordinator_is_one_line_error():
    from vbench.interleave import TurnClient

    coordinator = TurnCoordinator()
    spec = coordinator.spec("A", 1)
    coordinator._server.close()  # nothing listens there any more
    with pytest.raises(VBenchError, match="no coordinator at 127.0.0.1"):
        TurnClient(spec)


@pytest.mark.parametrize("args, expected", [
    (["bench", "--vb-threads", "1"], (0,)),
    (["bench", "--vb-threads=2"], (0, 1)),
    (["bench"], (0, 1, 2, 3)),
    (["bench", "--vb-threads", "8"], (0, 1, 2, 3)),  # more threads than CPUs: all of them
])
def test_both_sessions_share_one_cpu_set(args, expected):
    from vbench.interleave import session_cpus

    assert session_cpus(args, [3, 1, 0, 2]) == expected


def test_pinned_child_runs_only_on_its_cpus():
    import os

    from vbench.interleave import pinned_to

    if not hasattr(os, "sched_getaffinity"):
        pytest.skip("no CPU affinity on this OS")
    cpu = min(os.sched_getaffinity(0))
    out = subprocess.run([sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
                         preexec_fn=pinned_to((cpu,)), capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"[{cpu}]"


def test_when_one_side_fails_the_other_is_stopped(tmp_path):
    from vbench.interleave import PairSession, run_pair

    sessions = {
        "A": PairSession([sys.executable, "-c", "raise SystemExit(3)"], tmp_path, {}),
        "B": PairSession([sys.executable, "-c", "import time; time.sleep(600)"], tmp_path, {}, tmp_path / "b.log"),
    }
    stats, status = run_pair(sessions, 5, [0])
    assert status["A"] == 3 and status["B"] < 0  # B was killed rather than left running its 600 s
    assert (stats.paired, stats.unpaired) == (0, 0)
    assert (tmp_path / "b.log").exists()
