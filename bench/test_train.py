"""Training-step cells: forward + loss + backward + optimizer step + zero_grad per round.

LoRA cells train only the adapters (``lora_rN`` optimizations); see vbench/workloads/train.py for the
phase split and the memory breakdown recorded with each cell.
"""

import pytest


@pytest.mark.vbench(mode="train")
def test_train(vb_cell, vb_measure):
    vb_measure(vb_cell)
