"""One call on a GPU machine that exercises every CUDA path of vbench once and says what it found.

    python bench/gpu/verify.py --out "$OUT"            # on the GPU machine (about 5-7 minutes on an H200)
    python bench/gpu/verify.py --dry-run --out out/v   # here, on a CPU: the same steps at toy sizes

Steps (each timed, each recorded as ok / failed / skipped with the reason, never stopping the rest):
the synchronized timer against CUDA events on two cells (within 2%), CUDA memory peaks, MFU, NVML
telemetry and the unstable flag, amp/bf16/channels_last/compile on one 224 px model (inference and a
training step), the ONNX Runtime CUDA provider if installed, the gate's A/A and an injected slowdown
on two cells (ResNet doing its work twice), ``--vb-gpu-per-worker`` with one GPU, and TensorRT's skip reason. Writes
``verify.json`` (every step's data) and ``verify.md`` (one page) under ``--out``; a step that would
start after ``--budget`` seconds is skipped, so the call ends in time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STEPS: dict[str, Callable[["Context"], dict]] = {}


def step(fn: Callable[["Context"], dict]) -> Callable[["Context"], dict]:
    STEPS[fn.__name__] = fn
    return fn


class Skipped(Exception):
    """A step that cannot run here; the message is the reason."""


@dataclass
class Context:
    out: Path
    dry_run: bool
    started: float = field(default_factory=time.monotonic)

    @property
    def device(self) -> str:
        return "cpu" if self.dry_run else "cuda"

    def sizes(self) -> list[str]:
        """Cell selection arguments: the real ones on a GPU, toy ones in a dry run."""
        if self.dry_run:
            return ["--vb-batch-sizes", "2", "--vb-img-sizes", "64", "--benchmark-max-time", "0.05"]
        return ["--vb-batch-sizes", "32", "--vb-img-sizes", "224", "--benchmark-max-time", "0.5"]

    def pytest(self, name: str, *args: str, env: dict | None = None, timeout: int = 400) -> tuple[int, dict | None, str]:
        """``pytest bench`` with ``args``; returns (exit status, its JSON or None, the output's tail)."""
        out = self.out / f"{name}.json"
        cmd = [sys.executable, "-m", "pytest", "bench", "-q", "-p", "no:cacheprovider", "--vb-device", self.device,
               f"--benchmark-json={out}", *args]
        full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
        proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
        (self.out / f"{name}.log").write_text(proc.stdout + proc.stderr)
        data = json.loads(out.read_text()) if out.is_file() else None
        return proc.returncode, data, (proc.stdout + proc.stderr)[-1500:]


def _cells(data: dict | None) -> dict[str, dict]:
    return {b["name"]: b["extra_info"] for b in (data or {}).get("benchmarks", [])}


@step
def environment(ctx: Context) -> dict:
    import torch

    from vbench.machine import hardware_key

    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpus": []}
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    elif not ctx.dry_run:
        raise RuntimeError("no CUDA device visible")
    info["hardware_key"] = hardware_key(ctx.device)
    return info


@step
def timer_against_cuda_events(ctx: Context) -> dict:
    import torch

    from vbench.models import create_model
    from vbench.timing import CudaEventTimer, device_timer, time_call

    if ctx.dry_run:
        raise Skipped("CUDA events need a GPU (the synchronized timer is the plain clock on CPU)")
    device = torch.device("cuda")
    out = {}
    for name, dtype in (("resnet50", torch.float32), ("vit_base_patch16_224", torch.bfloat16)):
        model = create_model(name, img_size=224).to(device, dtype).eval()
        x = torch.randn(32, 3, 224, 224, device=device, dtype=dtype)
        with torch.inference_mode():
            step_fn = lambda: model(x)  # noqa: E731
            for _ in range(5):
                step_fn()
            timer = device_timer(device)
            clock = sorted(time_call(step_fn, timer) for _ in range(30))[15]
            events = sorted(CudaEventTimer(device).measure(step_fn, 30))[15]
        out[name] = {"synchronized_ms": clock * 1e3, "cuda_events_ms": events * 1e3,
                     "ratio": clock / events, "within_2pct": abs(clock / events - 1) <= 0.02}
        del model
        torch.cuda.empty_cache()
    if not all(v["within_2pct"] for v in out.values()):
        raise RuntimeError(f"synchronized timer and CUDA events differ by more than 2%: {out}")
    return out


@step
def optimizations_memory_mfu_telemetry(ctx: Context) -> dict:
    model = "resnet18" if ctx.dry_run else "resnet50"
    opts = "eager,channels_last,amp_bf16" if ctx.dry_run else "eager,channels_last,amp_bf16,bf16,compile"
    status, data, tail = ctx.pytest("cells", "--vb-models", model, "--vb-opts", opts, "--vb-modes", "inference,train",
                                    *ctx.sizes(), timeout=420)
    cells = _cells(data)
    if status != 0 or not cells:
        raise RuntimeError(f"pytest exited {status}: {tail}")
    checks = {}
    for name, extra in cells.items():
        checks[name] = {
            "samples_per_s": extra.get("samples_per_s"), "correctness": extra.get("correctness"),
            "peak_mem_allocated_mb": extra.get("peak_mem_allocated_mb"), "mfu": extra.get("mfu"),
            "unstable": extra.get("unstable"),
            "telemetry": {k: v for k, v in extra.items() if k.startswith("gpu_") and v is not None},
        }
    if not ctx.dry_run:
        missing = [n for n, c in checks.items() if not c["peak_mem_allocated_mb"] or c["mfu"] is None
                   or "unstable" not in cells[n] or not c["telemetry"]]
        if missing:
            raise RuntimeError(f"CUDA memory, MFU, telemetry or the unstable flag missing in {missing}")
    return {"cells": checks}


@step
def onnxruntime_cuda_provider(ctx: Context) -> dict:
    try:
        import onnxruntime
    except ImportError:
        raise Skipped("onnxruntime is not installed") from None
    providers = onnxruntime.get_available_providers()
    if not ctx.dry_run and "CUDAExecutionProvider" not in providers:
        raise Skipped(f"no CUDAExecutionProvider (providers: {providers}): install onnxruntime-gpu")
    status, data, tail = ctx.pytest("onnxruntime", "--vb-models", "resnet18", "--vb-opts", "onnxruntime",
                                    "--vb-modes", "inference", *ctx.sizes())
    cells = _cells(data)
    if status != 0 or not cells:
        raise RuntimeError(f"pytest exited {status}: {tail}")
    return {"providers": providers, "cells": {n: {"notes": e.get("notes"), "correctness": e.get("correctness")}
                                              for n, e in cells.items()}}


@step
def gate_aa_and_injected_slowdown(ctx: Context) -> dict:
    storage = ctx.out / "gate-storage"
    cells = ["--vb-models", "resnet18,vit_tiny_patch16_224" if ctx.dry_run else "resnet50,vit_base_patch16_224",
             "--vb-opts", "eager", "--vb-modes", "inference", *ctx.sizes(), f"--benchmark-storage=file://{storage}",
             "--vb-baseline-runs", "3"]
    for i in range(3):
        status, _, tail = ctx.pytest(f"gate-base-{i}", *cells, "--benchmark-autosave")
        if status != 0:
            raise RuntimeError(f"baseline session {i} exited {status}: {tail}")
    status_aa, aa, _ = ctx.pytest("gate-aa", *cells, "--benchmark-compare")
    inject = {"VBENCH_INJECT": "resnet:all_x4", "PYTHONPATH": os.pathsep.join([str(ROOT / "bench" / "study"),
                                                                              os.environ.get("PYTHONPATH", "")])}
    # The extra work comes from the environment, so it would reach both sides of an A/B pair against
    # the stored sessions' commit: this run confirms in fresh sessions judged against the stored ones.
    status_slow, slow, _ = ctx.pytest("gate-injected", *cells, "--benchmark-compare", "--vb-confirm-ab", "off",
                                      "-p", "inject_slowdown", env=inject)

    def rows(data):
        return [(r["cell"], r["metric"], r["change"], r["verdict"]) for r in (data or {}).get("vbench_gate", {}).get("rows", [])
                if r["verdict"] not in ("unchanged", "not gated")]

    result = {"aa_exit": status_aa, "aa_rows": rows(aa), "injected_exit": status_slow, "injected_rows": rows(slow)}
    if status_aa != 0 or status_slow != 1:
        raise RuntimeError(f"A/A exited {status_aa} (want 0), injected exited {status_slow} (want 1): {result}")
    return result


@step
def one_worker_per_gpu(ctx: Context) -> dict:
    args = ["--vb-models", "resnet18", "--vb-opts", "eager", "--vb-modes", "inference", *ctx.sizes(),
            "-n", "1", "--vb-gpu-per-worker"]
    status, data, tail = ctx.pytest("gpu-per-worker", *args)
    if ctx.dry_run:
        if status == 0 or "no CUDA GPU is visible" not in tail:
            raise RuntimeError(f"on CPU --vb-gpu-per-worker must be refused in one line; exited {status}: {tail}")
        return {"refused_on_cpu": True}
    if status != 0 or data is None:
        raise RuntimeError(f"pytest exited {status}: {tail}")
    return {"parallel_mode": data["machine_info"].get("parallel_mode"), "cells": len(data["benchmarks"])}


@step
def tensorrt_skip_reason(ctx: Context) -> dict:
    status, data, tail = ctx.pytest("tensorrt", "--vb-models", "resnet18", "--vb-opts", "tensorrt_fp16",
                                    "--vb-modes", "inference", "-rs", *ctx.sizes())
    if status != 0:
        raise RuntimeError(f"pytest exited {status}: {tail}")
    measured = len((data or {}).get("benchmarks", []))
    # With every cell skipped pytest-benchmark writes no JSON: the reasons come from pytest's -rs lines.
    log = (ctx.out / "tensorrt.log").read_text()
    reasons = [line.split(": ", 1)[-1] for line in log.splitlines()
               if line.startswith("SKIPPED") and "tensorrt" in line]
    if not measured and not reasons:
        raise RuntimeError(f"TensorRT cell neither measured nor skipped with a reason: {tail}")
    return {"measured": measured, "skipped": reasons}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "out/verify")))
    parser.add_argument("--dry-run", action="store_true", help="CPU, toy sizes: checks the script itself")
    parser.add_argument("--budget", type=float, default=420.0, help="start no step after this many seconds")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = Context(args.out, args.dry_run)
    results = {}
    for name, fn in STEPS.items():
        start = time.monotonic()
        if start - ctx.started > args.budget:
            results[name] = {"status": "skipped", "reason": f"time budget of {args.budget:.0f} s spent"}
            continue
        try:
            results[name] = {"status": "ok", **fn(ctx)}
        except Skipped as exc:
            results[name] = {"status": "skipped", "reason": str(exc)}
        except Exception as exc:  # recorded, and the next step runs
            results[name] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
        results[name]["seconds"] = round(time.monotonic() - start, 1)
        print(f"{name}: {results[name]['status']} ({results[name]['seconds']} s)", flush=True)
    summary = {"dry_run": args.dry_run, "date": time.strftime("%Y-%m-%d %H:%M:%S"), "steps": results}
    (args.out / "verify.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    lines = [f"# vbench GPU verification ({'dry run on CPU' if args.dry_run else 'CUDA'}), {summary['date']}", "",
             "| step | status | seconds | detail |", "|---|---|---|---|"]
    for name, r in results.items():
        detail = r.get("reason") or r.get("error") or ""
        lines.append(f"| {name} | {r['status']} | {r['seconds']} | {detail[:200]} |")
    (args.out / "verify.md").write_text("\n".join(lines) + "\n")
    return 0 if all(r["status"] != "failed" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
