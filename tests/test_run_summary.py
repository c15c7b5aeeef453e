"""The run's closing summary: a line per cell, the harness overhead, a contention warning."""

from vbench.pytest_plugin.run_summary import cell_lines, contention_line, overhead_line


def test_one_line_per_cell_with_mode_and_id():
    cells = [("test_inference[resnet18-eager-bs8-64px]", {"mode": "inference", "samples_per_s": 452.1,
                                                          "latency_ms_p50": 17.7, "peak_rss_mb": 1179.4,
                                                          "correctness": "ok"}),
             ("test_train[resnet18-eager-bs8-64px]", {"mode": "train", "samples_per_s": None})]
    lines = cell_lines(cells)
    assert lines[0].split() == ["cell", "samples/s", "p50", "ms", "memory", "MiB", "correctness"]
    assert lines[1].split() == ["inference", "resnet18-eager-bs8-64px", "452.1", "17.700", "1,179", "ok"]
    assert lines[2].split() == ["train", "resnet18-eager-bs8-64px", "-", "-", "-", "-"]
    many = cell_lines([("t[c]", {"mode": "inference"})] * 45)
    assert len(many) == 1 + 40 + 1 and many[-1].startswith("(5 more cells")


def test_overhead_is_wall_time_outside_the_rounds_over_the_rounds():
    assert "harness overhead 150%" in overhead_line(250.0, 100.0, 62)
    assert overhead_line(250.0, 100.0, 62).startswith("62 cells in 250 s: 100 s in timed rounds")


def test_contention_warning_only_above_threads_plus_one():
    assert contention_line([1.2, 1.9, 1.5], threads=1, cores=2) is None
    warning = contention_line([3.5, 4.1, 3.9], threads=1, cores=2)
    assert warning.startswith("warning: the machine was busy") and "median load 3.9" in warning
    assert contention_line([None], threads=1, cores=2) is None
