"""Cross-check a recorded CUDA cell against CUDA events measured by hand.

``python -m vbench.tools.crosscheck RUN.json CELL_ID`` rebuilds the cell's model and optimization,
times ``n`` calls with CUDA events on the GPU's own clock and prints both medians and their ratio.
A synchronized host timer and CUDA events should agree within a few percent; a large gap means the
timer is not measuring the device's work.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import torch

from vbench.errors import ExitStatus, VBenchError

__all__ = ["event_median_s", "main"]


def event_median_s(cell_id: str, run: dict, n: int = 50) -> tuple[float, float]:
    """Return ``(recorded median s, CUDA-event median s)`` for ``cell_id`` of ``run`` (a loaded JSON)."""
    import vbench  # noqa: F401 - registers optimizations
    from vbench.models import resolve_model
    from vbench.optimizations.plan import OptContext, resolve_plan
    from vbench.model_cache import make_input
    from vbench.models import create_model
    from vbench.timing import CudaEventTimer, WarmupPolicy, device_timer, warm_up

    bench = next((b for b in run["benchmarks"] if b["param"] == cell_id), None)
    if bench is None:
        raise VBenchError(f"no cell {cell_id!r} in the run")
    info = bench["extra_info"]
    device = torch.device(info["device"])
    entry = resolve_model(info["model"])
    model = create_model(info["model"], img_size=info["img_size"], seed=info.get("seed", 0)).to(device)
    x = make_input(info["batch_size"], info["img_size"], entry.in_chans, info.get("seed", 0), device)
    with torch.no_grad():
        exe = resolve_plan(info["optimization"]).apply(model, OptContext(device, "inference", x))
    with torch.inference_mode():
        xp = exe.prepare(x)
        warm_up(lambda: exe(xp), WarmupPolicy(min_iters=5, min_time_s=1.0), device_timer(device))
        times = CudaEventTimer(device).measure(lambda: exe(xp), n)
    return bench["stats"]["median"], statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vbench.tools.crosscheck", description=__doc__.splitlines()[0])
    parser.add_argument("run", help="pytest-benchmark JSON written by vbench on a CUDA device")
    parser.add_argument("cell", help="cell id, e.g. resnet50-eager-bs32-224px")
    parser.add_argument("-n", type=int, default=50, help="calls timed with CUDA events")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("crosscheck: needs a CUDA device", file=sys.stderr)
        return ExitStatus.USAGE_ERROR
    try:
        with open(args.run) as fh:
            run = json.load(fh)
        recorded, events = event_median_s(args.cell, run, args.n)
    except (OSError, ValueError, VBenchError) as exc:
        print(f"crosscheck: {exc}", file=sys.stderr)
        return ExitStatus.USAGE_ERROR
    print(json.dumps({"cell": args.cell, "recorded_median_ms": recorded * 1e3, "cuda_event_median_ms": events * 1e3,
                      "ratio": recorded / events}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
