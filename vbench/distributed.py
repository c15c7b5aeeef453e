"""DDP training steps across N processes, launched with torchrun, and their scaling efficiency.

:func:`launch` runs ``python -m torch.distributed.run --standalone --nproc_per_node N -m
vbench.distributed ...``; each rank builds the same seeded model, wraps it in
DistributedDataParallel (NCCL on CUDA, one GPU per rank; gloo on CPU, which is how the tests run
this code path without GPUs) and times training steps (forward, loss, backward with the gradient
all-reduce, optimizer step, zero_grad), synchronized per step. A step lasts as long as its slowest
rank, so rank 0 gathers every rank's times, keeps the per-step maximum and writes one JSON.

The batch size is per rank (weak scaling): N ranks process N x batch samples per step, and
``scaling_efficiency = samples_per_s(N) / (N x samples_per_s(1))``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vbench.errors import VBenchError

__all__ = ["DistributedUnavailable", "launch", "logits_file", "scaling_efficiency", "summarize_steps", "run_rank",
           "main"]


class DistributedUnavailable(VBenchError):
    """DDP cannot run here (torchrun missing, too few GPUs); the message is the skip reason."""


def scaling_efficiency(samples_per_s_n: float | None, samples_per_s_1: float | None, n: int) -> float | None:
    """Throughput of ``n`` ranks over ``n`` times one rank's (1.0 = perfect weak scaling)."""
    if not samples_per_s_n or not samples_per_s_1 or n < 1:
        return None
    return samples_per_s_n / (n * samples_per_s_1)


def summarize_steps(per_rank: list[list[float]], batch_per_rank: int) -> dict[str, Any]:
    """Per-step times of every rank (seconds) into the cell's fields: a step ends with its slowest rank."""
    steps = [max(times) for times in zip(*per_rank)]
    median = statistics.median(steps)
    world = len(per_rank)
    return {
        "world_size": world,
        "step_s": steps,
        "step_ms_p50": median * 1e3,
        "step_ms_max": max(steps) * 1e3,
        "rank_skew_ms_p50": statistics.median(max(t) - min(t) for t in zip(*per_rank)) * 1e3,
        "global_batch_size": batch_per_rank * world,
        "samples_per_s": batch_per_rank * world / median,
    }


def logits_file(out: Path) -> Path:
    """Where rank 0 saves the logits of its first step (before any update) next to the fields ``out``."""
    return Path(out).with_name(Path(out).stem + ".logits.pt")


def run_rank(model_name: str, img_size: int, batch_size: int, steps: int, warmup: int, seed: int,
             lr: float = 1e-4, tf32: bool = False) -> tuple[dict[str, Any], Any] | None:
    """One rank's work under torchrun (reads RANK, WORLD_SIZE, LOCAL_RANK); rank 0 returns the fields
    and the logits of its first step.

    Rank 0's input is the runner's (:func:`vbench.model_cache.make_input` with the run's seed), and its
    first step draws the same drop-path masks, so those logits are checked against fp32 eager like a
    training cell's; every other rank gets its own shard (the seed plus its rank).
    """
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    from vbench.correctness import logits_of
    from vbench.model_cache import make_input
    from vbench.models import create_model, resolve_model

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32  # as the session runs
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        rank, world = dist.get_rank(), dist.get_world_size()
        model = create_model(model_name, img_size=img_size, seed=seed).to(device).train()
        ddp = DDP(model, device_ids=[local_rank] if cuda else None)
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=lr)
        x = make_input(batch_size, img_size, resolve_model(model_name).in_chans, seed + rank, device)
        gen = torch.Generator().manual_seed(seed + rank)  # each rank its own shard of data
        num_classes = model.num_classes if hasattr(model, "num_classes") else 1000
        y = torch.randint(0, num_classes, (batch_size,), generator=gen).to(device)
        first: list[torch.Tensor] = []

        def step():
            logits = logits_of(ddp(x))
            if not first:
                first.append(logits.detach().float().cpu())
            loss = F.cross_entropy(logits.float(), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        times = []
        torch.manual_seed(seed)  # the drop-path/dropout masks of the runner's fp32 eager reference
        for i in range(warmup + steps):
            dist.barrier()  # every rank starts the step together
            if cuda:
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            step()
            if cuda:
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
        gathered: list[list[float]] = [None] * world  # type: ignore[list-item]
        dist.all_gather_object(gathered, times)
        if rank != 0:
            return None
        fields = summarize_steps(gathered, batch_size)
        fields.update(backend=dist.get_backend(), device=str(device.type),
                      gpu_name=torch.cuda.get_device_name(device) if cuda else None,
                      model=model_name, img_size=img_size, batch_size=batch_size, steps=steps, warmup=warmup)
        return fields, first[0]
    finally:
        dist.destroy_process_group()


def launch(model: str, img_size: int, batch_size: int, nproc: int, *, steps: int = 10, warmup: int = 3,
           seed: int = 0, out: Path, timeout_s: float = 600, env: dict[str, str] | None = None,
           tf32: bool = False) -> dict[str, Any]:
    """Run :func:`run_rank` on ``nproc`` processes with torchrun and return rank 0's fields (its
    first step's logits are in :func:`logits_file` of ``out``).

    Raises :class:`DistributedUnavailable` when torchrun is missing and :class:`VBenchError` with the
    last error line when the job fails.
    """
    if importlib.util.find_spec("torch.distributed.run") is None:
        raise DistributedUnavailable("torchrun (torch.distributed.run) is missing from this torch build")
    out = Path(out)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "vbench.distributed", "--model", model, "--img-size", str(img_size),
           "--batch-size", str(batch_size), "--steps", str(steps), "--warmup", str(warmup),
           "--seed", str(seed), "--out", str(out), *(["--tf32"] if tf32 else [])]
    # One intra-op thread per rank unless told otherwise: ranks on one CPU must not oversubscribe it.
    run_env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=run_env)
    if proc.returncode != 0 or not out.is_file():
        output = (proc.stderr + proc.stdout).splitlines()
        lines = [ln.split("vbench.distributed: ", 1)[1] for ln in output if "vbench.distributed: " in ln]
        lines = lines or [ln for ln in output if ln.strip()][-1:] or ["no output"]
        raise VBenchError(f"DDP run with {nproc} process(es) failed (exit {proc.returncode}): {lines[0].strip()}")
    return json.loads(out.read_text())


def main(argv: Sequence[str] | None = None) -> int:
    """torchrun entry point: ``python -m vbench.distributed --model M --out FILE ...``."""
    p = argparse.ArgumentParser(prog="vbench.distributed", description="DDP training steps (run under torchrun)")
    p.add_argument("--model", required=True)
    p.add_argument("--img-size", type=int, required=True)
    p.add_argument("--batch-size", type=int, required=True, help="per rank")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls and convolutions")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import vbench  # noqa: F401 - fills the registries

    try:
        done = run_rank(args.model, args.img_size, args.batch_size, args.steps, args.warmup, args.seed, tf32=args.tf32)
    except Exception as exc:  # one line the launcher can show, then the full error as usual
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"vbench.distributed: rank {os.environ.get('RANK', '?')}: {type(exc).__name__}: {first}",
              file=sys.stderr, flush=True)
        raise
    if done is not None:
        import torch

        fields, first_logits = done
        torch.save(first_logits, logits_file(args.out))
        tmp = args.out.with_name(args.out.name + ".tmp")
        tmp.write_text(json.dumps(fields, indent=2))
        os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
