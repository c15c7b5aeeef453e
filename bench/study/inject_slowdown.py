"""A pytest plugin that makes one model family slower by real extra work, for the gate's study.

Loaded from the environment, the work reaches every process of the run, the gate's A/B pairs'
baseline side included: judge such runs with ``--vb-confirm-ab off``, or write the work into the
working tree (``bench/study/sessions.py --change``) as a real change would be.

``VBENCH_INJECT=resnet:block pytest bench -p inject_slowdown`` (with ``bench/study`` on
``PYTHONPATH``) replaces timm's ``ResNet.forward_features`` by the same computation plus one extra
piece of the network run on the stem's output: ``conv`` (the first convolution, batch norm and
activation of the first block), ``block`` (the whole first block), ``stage`` (the whole first
stage), ``stage_x2`` (the first stage twice), ``block_pair`` (the first block of the first and of the second stage), ``second_stage`` (the
second stage alone), ``two_stages`` (the first two stages), ``all`` (every stage again: about twice the work) or ``all_x4``
(every stage four more times). ``0.0 *`` the mean of the extra output is added to the real output: the output is unchanged
(the correctness guard still passes) and no compiler drops the work (``0 * x`` is not folded: it is
NaN for an infinite ``x``). Every ResNet cell runs it (eager, channels_last, amp, bf16, TorchScript,
torch.compile, LoRA, training). On resnet18 a block is one of eight, so conv, block, stage and
two_stages add about 3%, 12%, 25% and 50% of the blocks' FLOPs; at 64 px the time they add is less
(per-call overheads weigh more): the study measures each cell's actual slowdown.
"""

from __future__ import annotations

import os

__all__ = ["EXTRA_WORK", "parse_injection", "install"]

EXTRA_WORK = {
    "conv": lambda self, x: self.layer1[0].act1(self.layer1[0].bn1(self.layer1[0].conv1(x))),
    "block": lambda self, x: self.layer1[0](x),
    "stage": lambda self, x: self.layer1(x),
    # the first block of each of the first two stages (measured about +4% on 2026-12-01)
    "block_pair": lambda self, x: self.layer2[0](self.layer1[0](x)),
    # the second stage on the stem's output: between stage (measured +5-8%) and two_stages (+20%)
    "second_stage": lambda self, x: self.layer2(x),
    # the first stage twice: aimed at about +10%
    "stage_x2": lambda self, x: self.layer1(self.layer1(x)),
    "two_stages": lambda self, x: self.layer2(self.layer1(x)),
    # the whole network a second time (about twice the work): for the end-to-end test of the gate
    "all": lambda self, x: self.layer4(self.layer3(self.layer2(self.layer1(x)))),
    # the network four more times (about five times the work): far beyond any load's noise, for tests
    "all_x4": lambda self, x: sum(self.layer4(self.layer3(self.layer2(self.layer1(x)))) for _ in range(4)),
}


def parse_injection(text: str) -> tuple[str, str]:
    """``"resnet:block"`` -> ``("resnet", "block")``; ValueError on anything else."""
    family, _, unit = text.partition(":")
    if family != "resnet" or unit not in EXTRA_WORK:
        raise ValueError(f"VBENCH_INJECT must be resnet:UNIT with UNIT one of {', '.join(EXTRA_WORK)}, got {text!r}")
    return family, unit


def install(family: str, unit: str) -> None:
    """Patch timm's ResNet so every forward also runs ``EXTRA_WORK[unit]``."""
    from timm.models.resnet import ResNet

    extra_work = EXTRA_WORK[unit]

    def forward_features(self, x):
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        extra = extra_work(self, x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x + 0.0 * extra.float().mean().to(x.dtype)

    ResNet.forward_features = forward_features


def pytest_configure(config) -> None:
    spec = os.environ.get("VBENCH_INJECT")
    if spec:
        install(*parse_injection(spec))
