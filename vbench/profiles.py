"""Named benchmark matrices (smoke, standard, full), user matrix files, and the cells they expand to.

A matrix is a list of entries; each entry is the cartesian product of its models, optimizations,
batch sizes, image sizes and modes, and the matrix's cells are the union of its entries. Command-line
overrides replace an axis in every entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from vbench.errors import VBenchError

__all__ = [
    "MODES",
    "Cell",
    "MatrixEntry",
    "Profile",
    "AxisOverrides",
    "PROFILES",
    "get_profile",
    "load_matrix",
    "read_matrix_yaml",
    "expand_cells",
    "parse_int_list",
]

MODES = ("inference", "train", "data")
ALL = "*"


@dataclass(frozen=True, order=True)
class Cell:
    """One benchmark cell. ``id`` is the stable pytest id, e.g. ``resnet50-amp_bf16-bs32-224px``."""

    mode: str
    model: str
    img_size: int
    optimization: str
    batch_size: int

    @property
    def id(self) -> str:
        return f"{self.model}-{self.optimization}-bs{self.batch_size}-{self.img_size}px"  # parsed by CELL_ID


# A cell id (Cell.id) read back from a node id, e.g. by xdist's scheduler to keep one model on one worker.
CELL_ID = re.compile(r"(?P<model>[^\[\]]+)-(?P<optimization>[^-\[\]]+)-bs(?P<batch_size>\d+)-(?P<img_size>\d+)px")

MAX_AXIS_VALUE = 1_000_000  # a batch or image size beyond this is a typo, not a benchmark


def _positive_ints(name: str, values: Iterable[Any], *, allow_none: bool = False) -> tuple:
    out = []
    for v in values:
        if v is None and allow_none:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise VBenchError(f"{name} must be positive integers, got {v!r}")
        elif v > MAX_AXIS_VALUE:
            raise VBenchError(f"{name} must be at most {MAX_AXIS_VALUE:,}, got {v}")
        else:
            out.append(v)
    if not out:
        raise VBenchError(f"{name} must not be empty")
    return tuple(out)


def _names(name: str, values: Iterable[Any]) -> tuple[str, ...]:
    out = tuple(values)
    if not out or not all(isinstance(v, str) and v.strip() for v in out):
        raise VBenchError(f"{name} must be a non-empty list of names, got {list(out)!r}")
    return tuple(v.strip() for v in out)


@dataclass(frozen=True)
class MatrixEntry:
    """One cartesian block of cells.

    ``optimizations`` may be ``["*"]`` for every registered optimization; ``img_sizes`` may hold
    ``None`` for the model's own default size.
    """

    models: tuple[str, ...]
    optimizations: tuple[str, ...]
    batch_sizes: tuple[int, ...]
    img_sizes: tuple[int | None, ...] = (None,)
    modes: tuple[str, ...] = ("inference",)

    def __post_init__(self):
        object.__setattr__(self, "models", _names("models", self.models))
        object.__setattr__(self, "optimizations", _names("optimizations", self.optimizations))
        object.__setattr__(self, "batch_sizes", _positive_ints("batch sizes", self.batch_sizes))
        object.__setattr__(self, "img_sizes", _positive_ints("image sizes", self.img_sizes, allow_none=True))
        modes = _names("modes", self.modes)
        unknown = [m for m in modes if m not in MODES]
        if unknown:
            raise VBenchError(f"unknown mode {unknown[0]!r}; modes are {', '.join(MODES)}")
        object.__setattr__(self, "modes", modes)

    @classmethod
    def from_mapping(cls, data: Any, where: str) -> MatrixEntry:
        """Build an entry from a YAML mapping, naming ``where`` in any error."""
        if not isinstance(data, dict):
            raise VBenchError(f"{where}: an entry must be a mapping, got {type(data).__name__}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise VBenchError(f"{where}: unknown key {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")
        missing = sorted({"models", "optimizations", "batch_sizes"} - set(data))
        if missing:
            raise VBenchError(f"{where}: missing key {missing[0]!r}")
        kwargs = {}
        for key, value in data.items():
            value = value if isinstance(value, list) else [value]
            kwargs[key] = tuple(value)
        try:
            return cls(**kwargs)
        except VBenchError as exc:
            raise VBenchError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class Profile:
    """A named matrix."""

    name: str
    entries: tuple[MatrixEntry, ...]
    description: str = ""


SMOKE_MODELS = (
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "swin_tiny_patch4_window7_224",
    "resnet18",
    "densenet121",
)
SMOKE_TRAIN_MODELS = ("vit_tiny_patch16_224", "resnet18")
LORA_RANKS = tuple(f"lora_r{r}" for r in (4, 8, 16, 32, 64))
TRAIN_OPTS = ("eager", "amp_fp16", "amp_bf16", "channels_last", "compile")
STANDARD_MODELS = (
    "vit_base_patch16_224",
    "deit_small_patch16_224",
    "swin_tiny_patch4_window7_224",
    "resnet50",
    "densenet121",
)

# The deployment backends that run on a CPU (TensorRT needs CUDA; aot_inductor takes minutes per shape).
BACKEND_OPTS = ("onnxruntime", "int8_dynamic", "export")

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "smoke",
            (
                MatrixEntry(
                    SMOKE_MODELS,
                    ("eager", "channels_last", "amp_bf16", "bf16", "torchscript"),
                    (1, 8),
                    (64,),
                ),
                # One compiled cell: torch.compile costs 12-55 s per model and batch size on a cold
                # CPU cache, so the smoke profile keeps one to prove the path works.
                MatrixEntry(("resnet18",), ("compile",), (8,), (64,)),
                # Training and LoRA on one transformer and one CNN: full fine-tuning against LoRA
                # ranks in training, unmerged against merged adapters in inference.
                MatrixEntry(SMOKE_TRAIN_MODELS, ("eager", "lora_r4", "lora_r64"), (8,), (64,), ("train",)),
                MatrixEntry(SMOKE_TRAIN_MODELS, ("lora_r16", "lora_r16_merged"), (8,), (64,)),
                MatrixEntry(("resnet18",), ("eager",), (8,), (64,), ("data",)),
            ),
            "CPU default: every family at 64 px, batch 1 and 8; a few minutes on 2 cores",
        ),
        Profile(
            "standard",
            (
                MatrixEntry(STANDARD_MODELS, (ALL,), (1, 8, 32, 128), (224,)),
                MatrixEntry(STANDARD_MODELS, TRAIN_OPTS + LORA_RANKS, (32,), (224,), ("train",)),
                MatrixEntry(STANDARD_MODELS, ("lora_r8", "lora_r8_merged"), (1, 32), (224,)),
                MatrixEntry(("resnet50", "vit_base_patch16_224"), ("eager", "amp_bf16"), (32,), (224,), ("data",)),
            ),
            "GPU default: the five reference models at 224 px, every optimization, batch 1-128; "
            "training (full and LoRA ranks 4-64) and LoRA inference",
        ),
        Profile(
            "full",
            (
                MatrixEntry(STANDARD_MODELS, (ALL,), (1, 8, 16, 32, 64, 128, 256), (224,)),
                MatrixEntry(STANDARD_MODELS, ("eager", "amp_bf16", "compile"), (32,), (160, 224, 288, 384)),
            ),
            "standard plus batch sizes up to 256 and an input-size sweep 160-384 px",
        ),
        Profile(
            "backends",
            (MatrixEntry(SMOKE_MODELS, ("eager", *BACKEND_OPTS, "int8_dynamic_legacy"), (1, 8), (64,)),),
            "CPU lane for the deployment backends (ONNX Runtime, int8, torch.export) on every family at 64 px",
        ),
    )
}


def get_profile(name: str) -> Profile:
    """Return the built-in profile ``name``; unknown names raise with close matches."""
    from vbench.errors import UnknownNameError

    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownNameError("profile", name, PROFILES) from None


def read_matrix_yaml(path: str | Path) -> Any:
    """The parsed YAML of a matrix file (``yaml.safe_load``); one-line errors for unreadable or invalid files."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise VBenchError(f"matrix file {str(path)!r} is not UTF-8 text") from None
    except OSError as exc:
        raise VBenchError(f"cannot read matrix file {str(path)!r}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        if isinstance(exc, yaml.constructor.ConstructorError):  # e.g. !!python/object: never constructed
            tag = str(exc.problem or "").split("tag ")[-1].strip("'").replace("tag:yaml.org,2002:", "!!")
            raise VBenchError(f"matrix file {str(path)!r}{where}: tag {tag} is not plain data "
                              "(matrix files are read with yaml.safe_load; nothing in them is run)") from None
        raise VBenchError(f"matrix file {str(path)!r} is not valid YAML{where}") from None


def load_matrix(path: str | Path) -> Profile:
    """Load a user matrix from YAML (``yaml.safe_load``).

    The file holds ``entries:``, a list of mappings with keys models, optimizations, batch_sizes and
    optionally img_sizes and modes; a top-level ``defaults:`` mapping fills keys every entry omits.
    """
    path = Path(path)
    data = read_matrix_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list) or not data["entries"]:
        raise VBenchError(f"matrix file {str(path)!r} needs a non-empty 'entries:' list")
    unknown = sorted(set(data) - {"entries", "defaults", "description", "gate"})  # gate: vbench.compare.policy
    if unknown:
        raise VBenchError(f"matrix file {str(path)!r}: unknown top-level key {unknown[0]!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise VBenchError(f"matrix file {str(path)!r}: 'defaults' must be a mapping")
    entries = tuple(
        MatrixEntry.from_mapping({**defaults, **entry} if isinstance(entry, dict) else entry,
                                 f"{path.name} entry {i + 1}")
        for i, entry in enumerate(data["entries"])
    )
    return Profile(path.stem, entries, str(data.get("description", "")))


@dataclass(frozen=True)
class AxisOverrides:
    """Command-line changes to a profile's axes; None keeps the profile's value.

    Models, optimizations, batch and image sizes replace the entry's; ``modes`` selects among the
    entry's modes (an inference entry does not turn into a training entry), and an entry left with
    no mode is dropped.
    """

    models: tuple[str, ...] | None = None
    optimizations: tuple[str, ...] | None = None
    batch_sizes: tuple[int, ...] | None = None
    img_sizes: tuple[int, ...] | None = None
    modes: tuple[str, ...] | None = None

    def apply(self, entry: MatrixEntry) -> MatrixEntry | None:
        changes = {f.name: getattr(self, f.name) for f in fields(self)
                   if f.name != "modes" and getattr(self, f.name) is not None}
        if self.modes is not None:
            modes = tuple(m for m in entry.modes if m in self.modes)
            if not modes:
                return None
            changes["modes"] = modes
        return replace(entry, **changes)


def parse_int_list(text: str, what: str) -> tuple[int, ...]:
    """Parse ``"1,8,32"`` into positive integers; anything else is a one-line error."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = int(part)
        except ValueError:
            raise VBenchError(f"{what} must be comma-separated positive integers, got {part!r}") from None
        values.append(value)
    return _positive_ints(what, values)


def expand_cells(
    profile: Profile,
    overrides: AxisOverrides,
    *,
    all_optimizations: Sequence[str],
    expand_models,
    default_img_size,
) -> list[Cell]:
    """Expand ``profile`` with ``overrides`` into cells, without repeats.

    Cells are ordered mode, model, image size, optimization, batch size, so every batch size of one
    (model, optimization, image size) runs back to back and reuses one built model.
    ``expand_models`` turns names/patterns into model names; ``default_img_size(model)`` fills
    ``None`` image sizes; ``all_optimizations`` replaces ``"*"``.
    """
    seen: set[Cell] = set()
    cells: list[Cell] = []
    for entry in filter(None, (overrides.apply(e) for e in profile.entries)):
        opts = [o for name in entry.optimizations for o in (all_optimizations if name == ALL else [name])]
        for mode in entry.modes:
            for model in expand_models(list(entry.models)):
                for img in entry.img_sizes:
                    img = img or default_img_size(model)
                    for opt in dict.fromkeys(opts):
                        for bs in sorted(set(entry.batch_sizes)):
                            cell = Cell(mode, model, img, opt, bs)
                            if cell not in seen:
                                seen.add(cell)
                                cells.append(cell)
    mode_rank = {m: i for i, m in enumerate(MODES)}
    model_rank = {m: i for i, m in enumerate(dict.fromkeys(c.model for c in cells))}
    opt_rank = {o: i for i, o in enumerate(dict.fromkeys(c.optimization for c in cells))}
    return sorted(
        cells,
        key=lambda c: (mode_rank[c.mode], model_rank[c.model], c.img_size, opt_rank[c.optimization], c.batch_size),
    )
