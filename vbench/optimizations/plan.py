"""The optimization registry: what an optimization is, how several combine, when one cannot run.

An optimization is a plain function ``apply(exe, ctx) -> Executable`` registered with
:func:`register_optimization`. It may change the module (cast, memory format, compile, trace), the
input transform (done once, outside the timed region) or add a context manager entered around
every call (autocast). ``"channels_last+amp_bf16"`` combines registered optimizations: they are
applied in stage order (casts and layouts, then call contexts, then one compiler), so the compiler
sees the final module and traces under the final contexts.
"""

from __future__ import annotations

import contextlib
import enum
import importlib.util
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from vbench.errors import VBenchError
from vbench.registry import Registry

__all__ = [
    "Stage",
    "Executable",
    "OptContext",
    "Optimization",
    "OptimizationPlan",
    "OPTIMIZATIONS",
    "PRECISION_ORDER",
    "register_optimization",
    "register_optimization_factory",
    "get_optimization",
    "resolve_plan",
    "list_optimizations",
    "tf32_allowed",
]

# From most to least exact; a combination takes the least exact of its parts.
PRECISION_ORDER = ("fp32", "tf32", "bf16", "fp16", "int8")


class Stage(enum.IntEnum):
    """Where an optimization sits in a combination."""

    CAST = 0  # dtype and memory format of weights and inputs
    CONTEXT = 1  # context managers around each call (autocast, TF32)
    COMPILE = 2  # replaces the module with a compiled or exported one; at most one per plan


@contextlib.contextmanager
def tf32_allowed(enabled: bool) -> Iterator[None]:
    """Allow (or forbid) TF32 in fp32 matmuls and convolutions inside the block, then restore the flags."""
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


@dataclass
class Executable:
    """What a cell times: ``module(input_transform(x))`` with ``contexts`` entered around the call.

    ``notes`` collects what the optimizations want recorded in the result (compile mode, fallbacks,
    deprecation warnings), so nothing they do is silent.
    """

    module: nn.Module | Callable[..., Any]
    input_transform: Callable[[torch.Tensor], torch.Tensor] = _identity
    contexts: tuple[Callable[[], contextlib.AbstractContextManager], ...] = ()
    notes: dict[str, Any] = field(default_factory=dict)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the module wants it (cast, channels_last); call once, before timing."""
        return self.input_transform(x)

    @contextlib.contextmanager
    def context(self) -> Iterator[None]:
        """Enter every call context (autocast, TF32) of this executable."""
        with contextlib.ExitStack() as stack:
            for make in self.contexts:
                stack.enter_context(make())
            yield

    def __call__(self, x: torch.Tensor) -> Any:
        with self.context():
            return self.module(x)

    def then_transform(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Executable:
        """A copy whose input transform applies ``fn`` after the current one."""
        first = self.input_transform
        return replace(self, input_transform=lambda x: fn(first(x)))

    def with_context(self, make: Callable[[], contextlib.AbstractContextManager]) -> Executable:
        """A copy with one more call context."""
        return replace(self, contexts=self.contexts + (make,))


@dataclass(frozen=True)
class OptContext:
    """What an optimization may look at while it applies itself.

    ``example_input`` is already on the device and already transformed by the earlier stages.
    """

    device: torch.device
    mode: str
    example_input: torch.Tensor
    compile_mode: str = "default"
    family: str = ""  # the model's family (vision_transformer, resnet, ...), for per-family defaults
    settings: Any = None  # the run's RunSettings, for options of one optimization (LoRA alpha, ...)


@dataclass(frozen=True)
class Optimization:
    """One registered optimization and what it needs."""

    name: str
    apply: Callable[[Executable, OptContext], Executable]
    stage: Stage
    devices: frozenset[str] = frozenset({"cpu", "cuda"})
    modes: frozenset[str] = frozenset({"inference", "train"})
    requires: tuple[tuple[str, str], ...] = ()  # (importable module, pip requirement)
    precision: str = "fp32"
    slow_on_cpu: bool = False  # default CPU profiles leave it out; asked for explicitly, it runs
    description: str = ""
    # Builds one artifact per input shape (exported graph, ONNX session, TensorRT engine): the
    # runner applies it again for each batch size, so that build is that cell's convert_s.
    static_shapes: bool = False
    # ``check(device) -> reason | None``: a cheap availability test beyond importability (a
    # package that imports but whose native libraries are missing, no C++ compiler, ...).
    check: Callable[[torch.device], str | None] | None = None


OPTIMIZATIONS: Registry[Optimization] = Registry("optimization")

# Parametrized families of names (lora_r12, lora_r12_merged): a factory returns the optimization for a
# name it understands, registered on first use, or None.
_FACTORIES: list[Callable[[str], Optimization | None]] = []
_MADE: dict[str, Optimization] = {}  # factory-made, kept out of OPTIMIZATIONS so "*" does not grow with use


def register_optimization_factory(factory: Callable[[str], Optimization | None]):
    """Register ``factory(name) -> Optimization | None`` for names no plain registration covers."""
    _FACTORIES.append(factory)
    return factory


def get_optimization(name: str) -> Optimization:
    """The optimization called ``name``: registered, or made by a factory; else UnknownNameError."""
    if name in OPTIMIZATIONS:
        return OPTIMIZATIONS.get(name)
    if name not in _MADE:
        for factory in _FACTORIES:
            made = factory(name)
            if made is not None:
                _MADE[name] = made
                break
        else:
            return OPTIMIZATIONS.get(name)  # raises with close matches
    return _MADE[name]


def register_optimization(
    name: str | None = None,
    *,
    stage: Stage = Stage.CAST,
    devices: tuple[str, ...] = ("cpu", "cuda"),
    modes: tuple[str, ...] = ("inference", "train"),
    requires: tuple[tuple[str, str], ...] = (),
    precision: str = "fp32",
    slow_on_cpu: bool = False,
    static_shapes: bool = False,
    check: Callable[[torch.device], str | None] | None = None,
    overwrite: bool = False,
):
    """Decorator registering ``apply(exe, ctx) -> Executable`` as an optimization.

    The function's docstring's first line becomes the description shown by ``vbench list optimizations``.
    """
    if precision not in PRECISION_ORDER:
        raise VBenchError(f"precision must be one of {', '.join(PRECISION_ORDER)}, not {precision!r}")

    def decorate(fn: Callable[[Executable, OptContext], Executable]):
        opt_name = name or fn.__name__
        doc = (fn.__doc__ or "").strip().splitlines()
        OPTIMIZATIONS.add(
            opt_name,
            Optimization(
                opt_name, fn, stage, frozenset(devices), frozenset(modes), tuple(requires), precision,
                slow_on_cpu, doc[0] if doc else "", static_shapes, check,
            ),
            overwrite=overwrite,
        )
        return fn

    return decorate


@dataclass(frozen=True)
class OptimizationPlan:
    """A cell's optimization: one registered optimization or a ``+`` combination of several."""

    name: str
    parts: tuple[Optimization, ...]

    @property
    def precision(self) -> str:
        return max((p.precision for p in self.parts), key=PRECISION_ORDER.index, default="fp32")

    @property
    def devices(self) -> frozenset[str]:
        return frozenset.intersection(*(p.devices for p in self.parts))

    @property
    def modes(self) -> frozenset[str]:
        return frozenset.intersection(*(p.modes for p in self.parts))

    @property
    def slow_on_cpu(self) -> bool:
        return any(p.slow_on_cpu for p in self.parts)

    @property
    def static_shapes(self) -> bool:
        return any(p.static_shapes for p in self.parts)

    @property
    def is_baseline(self) -> bool:
        return all(p.name == "eager" for p in self.parts)

    def unavailable_reason(self, device: torch.device, mode: str) -> str | None:
        """Why this plan cannot run on ``device`` in ``mode``, or None when it can.

        Data cells train the model during their epoch and DDP cells train it on every rank, so they
        need what training needs.
        """
        for part in self.parts:
            if device.type not in part.devices:
                return f"{part.name} needs {' or '.join(sorted(part.devices))}; this run is on {device.type}"
            if ("train" if mode in ("data", "ddp") else mode) not in part.modes:
                return f"{part.name} does not support {mode} (only {', '.join(sorted(part.modes))})"
            for module, requirement in part.requires:
                if importlib.util.find_spec(module) is None:
                    return f"{part.name} needs {module}: pip install {requirement}"
            if part.check is not None and (reason := part.check(device)):
                return f"{part.name}: {reason}"
        return None

    def apply(self, model: nn.Module, ctx: OptContext) -> Executable:
        """Apply every part in stage order to ``model`` (which it may modify: pass a copy)."""
        exe = Executable(module=model)
        example = ctx.example_input
        for part in sorted(self.parts, key=lambda p: p.stage):
            exe = part.apply(exe, replace(ctx, example_input=example))
            example = exe.prepare(ctx.example_input)
        exe.notes.setdefault("optimizations", [p.name for p in self.parts])
        return exe


def resolve_plan(spec: str) -> OptimizationPlan:
    """Parse ``"name"`` or ``"a+b+c"`` into a plan; unknown names raise with close matches."""
    names = [n.strip() for n in spec.split("+")]
    if not all(names):
        raise VBenchError(f"optimization {spec!r} has an empty part")
    parts = tuple(get_optimization(n) for n in names)
    if len(set(names)) != len(names):
        raise VBenchError(f"optimization {spec!r} names a part twice")
    compilers = [p.name for p in parts if p.stage == Stage.COMPILE]
    if len(compilers) > 1:
        raise VBenchError(f"optimization {spec!r} combines {len(compilers)} compilers ({', '.join(compilers)}); use one")
    if len(parts) > 1 and any(p.name == "eager" for p in parts):
        raise VBenchError(f"optimization {spec!r}: eager is the baseline and combines with nothing")
    return OptimizationPlan(spec, parts)


def list_optimizations(pattern: str = "*") -> list[str]:
    """Sorted names of registered optimizations matching the fnmatch ``pattern``."""
    return OPTIMIZATIONS.names(pattern)
