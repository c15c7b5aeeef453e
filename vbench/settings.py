"""Run settings: every ``--vb-*`` option declared once, resolved once into a plain dataclass.

Each option is settable on the command line (``--vb-batch-sizes 1,8``) or in
``[tool.pytest.ini_options]`` (``vb_batch_sizes = "1,8"``); the command line wins. Resolution needs
no pytest config object, so it is unit-tested with plain dictionaries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vbench.correctness import DEFAULT_TOLERANCES, Tolerance, parse_tolerances
from vbench.data import DataSpec
from vbench.errors import UnknownNameError, VBenchError
from vbench.interleave import InterleaveSpec, parse_interleave
from vbench.optimizations.lora import LoraSpec
from vbench.profiles import MODES, AxisOverrides, parse_int_list
from vbench.timing import WarmupPolicy

__all__ = ["OptionSpec", "OPTIONS", "RunSettings", "resolve_settings", "resolve_device", "parse_weights",
           "parse_on_off", "resolve_threads", "usable_cores"]

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
TRAIN_OPTIMIZER_NAMES = ("adamw", "sgd")  # vbench.workloads.train.TRAIN_OPTIMIZERS; kept here to parse without torch.optim


@dataclass(frozen=True)
class OptionSpec:
    """One vbench option: ``--vb-<flag>`` on the command line, ``vb_<flag>`` in the ini file."""

    name: str  # python name, e.g. "batch_sizes"
    help: str
    default: str | None = None
    metavar: str = "VALUE"
    switch: bool = False  # a bare ``--vb-<flag>`` means "on" (ini: on/off)

    @property
    def flag(self) -> str:
        return "--vb-" + self.name.replace("_", "-")

    @property
    def ini(self) -> str:
        return "vb_" + self.name


OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec("profile", "matrix to run: smoke, standard, full, or auto (smoke on CPU, standard on CUDA)",
               "auto", "NAME"),
    OptionSpec("matrix", "YAML matrix file replacing the profile (see fixtures/matrix_example.yaml)", None, "FILE"),
    OptionSpec("models", "comma-separated model names or fnmatch patterns (any timm name or registered model)",
               None, "M1,M2"),
    OptionSpec("opts", "comma-separated optimizations; combine with '+', e.g. eager,channels_last+amp_bf16",
               None, "O1,O2"),
    OptionSpec("batch_sizes", "comma-separated batch sizes, e.g. 1,8,32", None, "N,N"),
    OptionSpec("img_sizes", "comma-separated square input sizes in pixels, e.g. 160,224", None, "N,N"),
    OptionSpec("modes", f"comma-separated modes: {', '.join(MODES)}", None, "MODE,MODE"),
    OptionSpec("device", "auto (CUDA when available), cpu, cuda or cuda:N", "auto", "DEVICE"),
    OptionSpec("weights", "local checkpoints: MODEL=PATH pairs, comma-separated, or a folder of "
               "MODEL.safetensors / MODEL.pth files (loaded with weights_only=True)", None, "SPEC"),
    OptionSpec("compile_mode", f"torch.compile mode: {', '.join(COMPILE_MODES)}", "default", "MODE"),
    OptionSpec("threads", "torch intra-op threads on CPU: a number, or auto = half the cores this process may use "
               "(at least 1), so the data loader, the telemetry thread and other tenants do not take turns with "
               "the model's own threads; torch's own choice (all cores) is --vb-threads all", "auto", "N|auto|all"),
    OptionSpec("probe", "time a fixed machine probe (plain torch work independent of the code under test) before "
               "each timed round and record each round's time over it (norm_time), which cancels a machine that "
               "got slower: auto (on for CPU, off for CUDA), on or off", "auto", "auto|on|off"),
    OptionSpec("tf32", "allow TF32 in fp32 matmuls/convolutions for every cell: on or off "
               "(off keeps the eager baseline true fp32; the tf32 optimization turns it on per cell)", "off",
               "on|off"),
    OptionSpec("cudnn_benchmark", "cudnn autotuning of convolution algorithms: on or off", "on", "on|off"),
    OptionSpec("seed", "seed for model weights and inputs", "0", "N"),
    OptionSpec("warmup_time", "seconds of warm-up calls after the first call, before timing", "0.2", "SECONDS"),
    OptionSpec("train_optimizer", "optimizer of training cells: adamw or sgd", "adamw", "NAME"),
    OptionSpec("lr", "learning rate of training cells", "1e-4", "LR"),
    OptionSpec("lora_targets", "LoRA target modules: default (per family), attn, attn+mlp, conv, or a regex over "
               "module names", "default", "SPEC"),
    OptionSpec("lora_alpha", "LoRA alpha (default: equal to the rank, scaling 1)", None, "ALPHA"),
    OptionSpec("lora_dropout", "LoRA dropout", "0.0", "P"),
    OptionSpec("data", "ImageFolder directory for data cells and accuracy (default: synthetic images)", None, "DIR"),
    OptionSpec("data_workers", "DataLoader worker processes", "2", "N"),
    OptionSpec("pin_memory", "pinned host memory for the DataLoader: auto (on with CUDA), on or off", "auto",
               "auto|on|off"),
    # Backends (docs/backends.md): the correctness guard and profiler traces.
    OptionSpec("tolerance", "correctness guard vs fp32 eager per precision class: CLASS=MAX_REL_ERR or "
               "CLASS.FIELD=VALUE (FIELD: max_rel_err, mean_rel_err, min_top1; CLASS: fp32, tf32, bf16, fp16, "
               "int8 or *), comma-separated, e.g. bf16=0.08,int8.min_top1=0.9; 'off' records without failing",
               None, "SPEC"),
    OptionSpec("trace", "write a torch.profiler Chrome trace per cell into this folder (DIR/<cell id>.pt.trace.json)",
               None, "DIR"),
    OptionSpec("trace_top", "print the top N operators by self time of each cell in the terminal summary "
               "(profiles the cell; with --vb-trace also writes the trace)", "0", "N"),
    OptionSpec("gpu_per_worker", "with pytest-xdist (-n auto): one worker per visible GPU, each pinned to its GPU "
               "(see docs/scaling.md)", "off", switch=True),
    OptionSpec("telemetry", "sample GPU (NVML) or CPU telemetry in a background thread during each timed cell: "
               "on or off", "on", "on|off"),
    OptionSpec("telemetry_interval", "seconds between telemetry samples", "0.05", "SECONDS"),
    # Set by `vbench ab` (docs/gate.md), not by hand.
    OptionSpec("interleave", "take turns round by round with another session through the coordinator at "
               "SIDE@HOST:PORT (SIDE A or B); set by vbench ab", None, "SIDE@HOST:PORT"),
    OptionSpec("interleave_rounds", "with --vb-interleave: timed rounds per cell (one call each)", "30", "N"),
)


def parse_on_off(name: str, value: object) -> bool:
    """The one on/off parser of every vbench option: on/off, true/false, 1/0, yes/no, or a bool (an ini
    file's); ``name`` is the option without its ``--vb-`` prefix, for the one-line error."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise VBenchError(f"--vb-{name.replace('_', '-')} must be on or off, got {value!r}")


def _csv(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in text.split(",") if p.strip())


def resolve_device(text: str) -> torch.device:
    """Turn auto/cpu/cuda/cuda:N into a device, refusing CUDA where there is none."""
    text = text.strip().lower()
    if text == "auto":
        return torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        raise VBenchError(f"--vb-device must be auto, cpu, cuda or cuda:N, got {text!r}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise VBenchError(f"--vb-device {text}: CUDA is not available on this machine")
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise VBenchError(f"--vb-device {text}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return torch.device("cuda", index)
    if device.type != "cpu":
        raise VBenchError(f"--vb-device must be auto, cpu, cuda or cuda:N, got {text!r}")
    return device


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    import os

    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def resolve_threads(text: str | None, device: torch.device) -> int | None:
    """``--vb-threads``: a positive number, ``all`` (None: torch's own choice) or ``auto``.

    ``auto`` on CPU is half the usable cores, at least 1: with every core busy with the model's own
    threads, anything else on the machine (the DataLoader's workers, the telemetry thread, pytest,
    another tenant) preempts one of them and a whole round waits for it. Measured on a 2-core VM:
    resnet18 eager bs1 at 64 px read 956 ms, 54.6 ms and, with one thread, 20.8 ms. On CUDA ``auto``
    leaves torch's choice (the host only feeds the GPU).
    """
    value = (text or "auto").strip().lower()
    if value == "all":
        return None
    if value == "auto":
        return max(1, usable_cores() // 2) if device.type == "cpu" else None
    return parse_int_list(value, "--vb-threads")[0]


def parse_weights(text: str | None) -> dict[str, Path] | Path | None:
    """``MODEL=PATH,...`` into a mapping, or a folder path; paths must exist."""
    if not text:
        return None
    if "=" not in text:
        folder = Path(text)
        if not folder.is_dir():
            raise VBenchError(f"--vb-weights {text!r} is neither MODEL=PATH pairs nor an existing folder")
        return folder
    out = {}
    for pair in _csv(text):
        model, sep, path = pair.partition("=")
        if not sep or not model or not path:
            raise VBenchError(f"--vb-weights entry {pair!r} must be MODEL=PATH")
        if not Path(path).is_file():
            raise VBenchError(f"--vb-weights {model}: file {path!r} does not exist")
        out[model.strip()] = Path(path)
    return out


@dataclass(frozen=True)
class RunSettings:
    """Everything a run needs to know, resolved and validated."""

    device: torch.device
    profile: str
    matrix: Path | None = None
    overrides: AxisOverrides = field(default_factory=AxisOverrides)
    weights: dict[str, Path] | Path | None = None
    compile_mode: str = "default"
    threads: int | None = None  # None: torch's own choice (--vb-threads all)
    probe: bool = False
    tf32: bool = False
    cudnn_benchmark: bool = True
    seed: int = 0
    warmup: WarmupPolicy = field(default_factory=WarmupPolicy)
    train_optimizer: str = "adamw"
    lr: float = 1e-4
    lora: LoraSpec = field(default_factory=LoraSpec)
    data: DataSpec = field(default_factory=DataSpec)
    tolerances: dict[str, Tolerance] | None = field(default_factory=lambda: dict(DEFAULT_TOLERANCES))
    trace_dir: Path | None = None
    trace_top: int = 0
    gpu_per_worker: bool = False
    telemetry: bool = True
    telemetry_interval_s: float = 0.05
    interleave: InterleaveSpec | None = None

    def weights_for(self, model: str) -> Path | None:
        """The checkpoint to load into ``model``, or None for random initialisation."""
        if isinstance(self.weights, dict):
            return self.weights.get(model)
        if isinstance(self.weights, Path):
            for suffix in (".safetensors", ".pth", ".pt", ".bin"):
                candidate = self.weights / f"{model}{suffix}"
                if candidate.is_file():
                    return candidate
        return None


def resolve_settings(get: Callable[[OptionSpec], str | None] | Mapping[str, str | None]) -> RunSettings:
    """Build :class:`RunSettings` from raw option strings.

    ``get(spec)`` returns the user's string for an option or None (a mapping by option name works
    too); unset options take their spec's default. Raises :class:`VBenchError` on bad input.
    """
    if isinstance(get, Mapping):
        mapping = get
        get = lambda spec: mapping.get(spec.name)  # noqa: E731
    given = {spec.name: get(spec) for spec in OPTIONS}
    for name in ("models", "opts", "batch_sizes", "img_sizes", "modes"):
        if given[name] is not None and not str(given[name]).strip(" ,"):
            raise VBenchError(f"--vb-{name.replace('_', '-')} is empty; leave it out for the profile's own")
    raw = {spec.name: (v if (v := given[spec.name]) not in (None, "") else spec.default) for spec in OPTIONS}

    device = resolve_device(raw["device"])
    profile = raw["profile"]
    if profile == "auto":
        profile = "standard" if device.type == "cuda" else "smoke"
    compile_mode = raw["compile_mode"]
    if compile_mode not in COMPILE_MODES:
        raise VBenchError(f"--vb-compile-mode must be one of {', '.join(COMPILE_MODES)}, got {compile_mode!r}")
    modes = _csv(raw["modes"]) if raw["modes"] else None
    for mode in modes or ():
        if mode not in MODES:
            raise VBenchError(f"unknown mode {mode!r}; modes are {', '.join(MODES)}")
    overrides = AxisOverrides(
        models=_csv(raw["models"]) or None if raw["models"] else None,
        optimizations=_csv(raw["opts"]) or None if raw["opts"] else None,
        batch_sizes=parse_int_list(raw["batch_sizes"], "batch sizes") if raw["batch_sizes"] else None,
        img_sizes=parse_int_list(raw["img_sizes"], "image sizes") if raw["img_sizes"] else None,
        modes=modes,
    )
    threads = resolve_threads(raw["threads"], device)
    probe_text = raw["probe"].strip().lower()
    probe = device.type == "cpu" if probe_text == "auto" else parse_on_off("probe", raw["probe"])
    try:
        seed = int(raw["seed"])
        warmup_time = float(raw["warmup_time"])
    except ValueError:
        raise VBenchError("--vb-seed must be an integer and --vb-warmup-time a number of seconds") from None
    if warmup_time < 0:
        raise VBenchError("--vb-warmup-time must be >= 0")
    matrix = Path(raw["matrix"]) if raw["matrix"] else None
    if raw["train_optimizer"] not in TRAIN_OPTIMIZER_NAMES:
        raise UnknownNameError("optimizer", raw["train_optimizer"], TRAIN_OPTIMIZER_NAMES)
    try:
        lr = float(raw["lr"])
        lora = LoraSpec(
            targets=raw["lora_targets"],
            alpha=float(raw["lora_alpha"]) if raw["lora_alpha"] else None,
            dropout=float(raw["lora_dropout"]),
        )
    except ValueError:
        raise VBenchError("--vb-lr, --vb-lora-alpha and --vb-lora-dropout must be numbers") from None
    if lr <= 0:
        raise VBenchError(f"--vb-lr must be positive, got {lr}")
    data_root = Path(raw["data"]) if raw["data"] else None
    if data_root is not None and not data_root.is_dir():
        raise VBenchError(f"--vb-data {raw['data']!r} is not a folder")
    try:
        workers = int(raw["data_workers"])
    except ValueError:
        raise VBenchError(f"--vb-data-workers must be an integer, got {raw['data_workers']!r}") from None
    pin = None if raw["pin_memory"].strip().lower() == "auto" else parse_on_off("pin_memory", raw["pin_memory"])
    data = DataSpec(root=data_root, workers=workers, pin_memory=pin)
    if data_root is not None:
        from vbench.data import build_dataset

        build_dataset(data, 32, train=False)  # an empty or unreadable folder fails now, not mid-run
    if lora.targets not in ("default", "attn", "attn+mlp", "conv"):
        import re

        try:
            re.compile(lora.targets)
        except re.error as exc:
            raise VBenchError(f"--vb-lora-targets {lora.targets!r} is not a valid regex: {exc}") from None
    trace_top = int(raw["trace_top"]) if raw["trace_top"].strip().isdigit() else None
    if trace_top is None:
        raise VBenchError(f"--vb-trace-top must be a non-negative integer, got {raw['trace_top']!r}")
    try:
        telemetry_interval_s = float(raw["telemetry_interval"])
    except ValueError:
        telemetry_interval_s = -1.0
    if not telemetry_interval_s > 0:
        raise VBenchError("--vb-telemetry-interval must be a positive number of seconds, "
                          f"got {raw['telemetry_interval']!r}")
    if not raw["interleave_rounds"].strip().isdigit():
        raise VBenchError(f"--vb-interleave-rounds must be a positive integer, got {raw['interleave_rounds']!r}")
    return RunSettings(
        device=device,
        profile=profile,
        matrix=matrix,
        overrides=overrides,
        weights=parse_weights(raw["weights"]),
        compile_mode=compile_mode,
        threads=threads,
        probe=probe,
        tf32=parse_on_off("tf32", raw["tf32"]),
        cudnn_benchmark=parse_on_off("cudnn_benchmark", raw["cudnn_benchmark"]),
        seed=seed,
        warmup=WarmupPolicy(min_time_s=warmup_time),
        train_optimizer=raw["train_optimizer"],
        lr=lr,
        lora=lora,
        data=data,
        tolerances=parse_tolerances(raw["tolerance"]),
        trace_dir=Path(raw["trace"]) if raw["trace"] else None,
        trace_top=trace_top,
        gpu_per_worker=parse_on_off("gpu_per_worker", raw["gpu_per_worker"]),
        telemetry=parse_on_off("telemetry", raw["telemetry"]),
        telemetry_interval_s=telemetry_interval_s,
        interleave=parse_interleave(raw["interleave"], int(raw["interleave_rounds"])),
    )
