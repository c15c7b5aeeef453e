"""Measurement study of the regression gate's decision rule on this machine.

For each injected slowdown (0 = A/A), run N trials; a trial times model A (no slowdown) and model B
(the same registered model, same weights, with the slowdown injected into its forward) with rounds
interleaved A B A B ... in one process, then judges B against A with the gate's own checks
(:func:`vbench.compare.judge_cell`: tolerance **and** Mann-Whitney U + bootstrap significance on
latency median, p90 and throughput). A trial that looks regressed is confirmed the way the gate
does: re-measured with more rounds and judged again; only a confirmed regression counts.

The slowdown is real extra work inside ``forward`` (extra applications of a conv block on a slice
of the batch), never a change to the timer. Run::

    python bench/gate_study.py --trials 20 --out study.json

It prints, per slowdown, how many trials were caught, the measured slowdown (median B/A ratio over
all rounds), and the smallest slowdown caught in at least 19 of 20 trials; the A/A line is the
false-alarm rate. Defaults finish in a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

from vbench import create_model, register_model
from vbench.compare import CHECKS, CellRecord, GatePolicy, judge_cell
from vbench.compare.verdicts import REGRESSED, SampledCheck
from vbench.models import MODELS
from vbench.timing import device_timer, time_call

__all__ = ["StudyNet", "study_net", "run_study", "main"]

TIME_CHECKS = tuple(c for c in CHECKS if isinstance(c, SampledCheck) and c.source == "time")


class StudyNet(nn.Module):
    """A small CNN of ``blocks`` identical 3x3 conv blocks. ``slowdown`` adds that fraction of the
    blocks' work: extra block applications over whole batches, then over a slice of the batch, so
    the extra work is ``slowdown`` x the blocks' work to within 1 / (blocks x batch)."""

    def __init__(self, num_classes: int, slowdown: float = 0.0, blocks: int = 20, width: int = 16):
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks))
        self.head = nn.Linear(width, num_classes)
        self.slowdown = slowdown

    def forward(self, x):
        y = torch.relu(self.stem(x))
        for block in self.blocks:
            y = torch.relu(block(y))
        out = self.head(y.mean((2, 3)))
        batch = y.shape[0]
        full, part = divmod(round(self.slowdown * len(self.blocks) * batch), batch)
        for _ in range(full):
            out = out + torch.relu(self.blocks[0](y)).mean() * 0
        if part:
            out = out + torch.relu(self.blocks[0](y[:part])).mean() * 0
        return out


def study_net(slowdown: float):
    """Register (once) and return the name of ``gate_study_net`` with ``slowdown`` injected."""
    name = "gate_study_net" if slowdown == 0 else f"gate_study_net_slow{slowdown * 100:g}pct"
    if name not in MODELS:
        register_model(lambda img_size, num_classes: StudyNet(num_classes, slowdown), name=name,
                       family="custom", img_size=16)
    return name


def _interleaved(step_a, step_b, rounds, timer):
    """``rounds`` times one round of A and one of B, alternating which goes first; seconds per call."""
    a, b = [], []
    for i in range(rounds):
        if i % 2:
            b.append(time_call(step_b, timer))
            a.append(time_call(step_a, timer))
        else:
            a.append(time_call(step_a, timer))
            b.append(time_call(step_b, timer))
    return a, b


def _regressed(a, b, batch, policy):
    extra = {"batch_size": batch}
    rows = judge_cell(CellRecord("A", "A", extra, a), CellRecord("B", "B", extra, b), policy, TIME_CHECKS)
    return [r.metric for r in rows if r.verdict == REGRESSED]


CLOCKS = {"wall": device_timer(torch.device("cpu")), "cpu": time.process_time}


def run_study(slowdowns, trials, rounds, batch, img, policy, iterations=1, clock="wall", log=print) -> dict:
    """Run the study; returns per-slowdown results (caught trials, measured slowdown, timings).

    ``clock`` is ``wall`` (perf_counter: what vbench times CPU cells with) or ``cpu``
    (``time.process_time``: this process's CPU time, blind to time spent waiting for a shared core).
    """
    timer = CLOCKS[clock]
    confirm_rounds = max(10, 2 * rounds)
    x = torch.randn(batch, 3, img, img, generator=torch.Generator().manual_seed(0))
    results = []
    with torch.inference_mode():
        model_a = create_model(study_net(0.0), img_size=img)
        for slowdown in slowdowns:
            model_b = create_model(study_net(slowdown), img_size=img)  # same seed: same weights as A
            # One round = ``iterations`` calls (like pytest-benchmark's iterations), so a round spans
            # several scheduler time slices on a shared machine.
            step_a = lambda: [model_a(x) for _ in range(iterations)]  # noqa: E731
            step_b = lambda: [model_b(x) for _ in range(iterations)]  # noqa: E731
            for _ in range(5):
                step_a(), step_b()
            caught, looked, ratios, started = 0, 0, [], time.perf_counter()
            for _ in range(trials):
                a, b = _interleaved(step_a, step_b, rounds, timer)
                ratios.append(statistics.median(b) / statistics.median(a))
                if _regressed(a, b, batch, policy):
                    looked += 1
                    a, b = _interleaved(step_a, step_b, confirm_rounds, timer)  # confirm before failing
                    caught += bool(_regressed(a, b, batch, policy))
            entry = {
                "slowdown": slowdown,
                "trials": trials,
                "caught": caught,
                "looked_regressed_before_confirmation": looked,
                "measured_slowdown_median": statistics.median(ratios) - 1,
                "measured_slowdown_range": [min(ratios) - 1, max(ratios) - 1],
                "median_a_ms": statistics.median(a) * 1e3 / iterations,
                "seconds": time.perf_counter() - started,
            }
            results.append(entry)
            log(f"slowdown {slowdown * 100:5.1f}%  measured {entry['measured_slowdown_median'] * 100:+5.1f}% "
                f"[{entry['measured_slowdown_range'][0] * 100:+.1f}%, {entry['measured_slowdown_range'][1] * 100:+.1f}%]  "
                f"caught {caught:2d}/{trials} (before confirmation {looked})  A median {entry['median_a_ms']:.2f} ms  "
                f"{entry['seconds']:.0f} s")
    return {"results": results}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slowdowns", default="0,3,5,6,7,8,10,15", help="percent, comma-separated; 0 = A/A")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds per side per trial")
    parser.add_argument("--iterations", type=int, default=5, help="forward calls per timed round")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: perf_counter (vbench's CPU timer); cpu: process CPU time")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--img", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--fail-on", default=None, help="tolerances as for --vb-fail-on (default: the gate's)")
    parser.add_argument("--alpha", type=float, default=0.01)
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    policy = GatePolicy.build(args.fail_on, None, args.alpha)
    slowdowns = [float(s) / 100 for s in args.slowdowns.split(",")]
    load_before = os.getloadavg()
    started = time.perf_counter()
    study = run_study(slowdowns, args.trials, args.rounds, args.batch, args.img, policy, args.iterations, args.clock)
    study.update({
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "tolerance_time": policy.tolerances.get("time"),
        "alpha": policy.alpha,
        "rounds": args.rounds,
        "iterations": args.iterations,
        "clock": args.clock,
        "confirm_rounds": max(10, 2 * args.rounds),
        "batch": args.batch,
        "img": args.img,
        "torch_threads": torch.get_num_threads(),
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "wall_s": time.perf_counter() - started,
    })
    aa = next((r for r in study["results"] if r["slowdown"] == 0), None)
    caught_19 = [r["slowdown"] for r in study["results"] if r["slowdown"] > 0 and r["caught"] >= 0.95 * r["trials"]]
    study["false_alarm_rate"] = aa["caught"] / aa["trials"] if aa else None
    study["smallest_slowdown_caught_19_of_20"] = min(caught_19) if caught_19 else None
    print(f"false alarms (A/A): {aa['caught'] if aa else '-'}/{aa['trials'] if aa else '-'}; smallest slowdown caught "
          f"in >= 95% of trials: {study['smallest_slowdown_caught_19_of_20']}; load average before/after "
          f"{load_before[0]:.1f}/{study['loadavg_after'][0]:.1f}; {study['wall_s']:.0f} s")
    if args.out:
        from vbench.compare import atomic_write_text

        atomic_write_text(args.out, json.dumps(study, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
