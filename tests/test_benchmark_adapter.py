"""vbench's adapter to pytest-benchmark internals, against the installed pytest-benchmark."""

import json
import os
import threading

from vbench.benchmark_adapter import fixture_limits, save_exclusive, storage_keyed_by


def test_storage_is_keyed_while_active():
    import pytest_benchmark.session as pb_session

    before = pb_session.get_machine_id
    with storage_keyed_by(lambda: "my-key"):
        assert pb_session.get_machine_id() == "my-key"
    assert pb_session.get_machine_id is before


def test_fixture_limits_fall_back_to_pytest_benchmarks_defaults():
    class Bare:
        pass

    assert fixture_limits(Bare()) == (1.0, 5)


def test_runs_saved_at_once_into_one_folder_get_numbers_of_their_own(tmp_path):
    # Eight savers all start from the same "next number", as eight autosaving runs would.
    paths, barrier = [], threading.Barrier(8)

    def saver(i):
        barrier.wait()
        paths.append(save_exclusive(tmp_path, 1, "run", json.dumps({"saver": i}).encode()))

    threads = [threading.Thread(target=saver, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.name for p in paths) == [f"{n:04d}_run.json" for n in range(1, 9)]
    assert sorted(json.loads(p.read_text())["saver"] for p in paths) == list(range(8))
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
