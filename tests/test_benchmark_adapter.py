"""vbench's adapter to pytest-benchmark internals, against the installed pytest-benchmark."""

import json
import os
import threading

from vbench.pytest_plugin.benchmark_adapter import fixture_limits, save_exclusive, storage_keyed_by


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


def test_machine_info_warning_names_the_differing_keys_of_the_installed_pytest_benchmark(pytestconfig):
    from pytest_benchmark import plugin as pb_plugin

    from vbench.pytest_plugin.benchmark_adapter import machine_info_diff

    impls = pytestconfig.pluginmanager.hook.pytest_benchmark_compare_machine_info.get_hookimpls()
    assert any(impl.plugin is pb_plugin for impl in impls)  # the implementation the adapter swaps is there
    assert [i.function.__name__ for i in impls if i.plugin is pb_plugin] == ["warn_keys"]  # swapped in this run
    assert machine_info_diff({"a": 1, "cpu": {"x": [1], "y": 2}}, {"a": 1, "cpu": {"x": [1], "y": 3}, "z": 0}) == [
        "cpu.y", "z"]
