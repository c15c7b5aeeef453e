"""Data-loading cells: DataLoader images/s per round, plus one training epoch split into waiting for
data, host-to-device transfer and compute (see vbench/workloads/data.py)."""

import pytest


@pytest.mark.vbench(mode="data")
def test_data(vb_cell, vb_measure):
    vb_measure(vb_cell)
