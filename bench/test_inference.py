"""Inference cells: one forward pass of a batch per round, under torch.inference_mode()."""

import pytest


@pytest.mark.vbench(mode="inference")
def test_inference(vb_cell, vb_measure):
    vb_measure(vb_cell)
