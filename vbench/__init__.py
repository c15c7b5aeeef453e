"""vbench: a performance regression suite for vision models, built on pytest-benchmark.

Import-light on purpose: importing vbench registers nothing on torch and sets no global flag.
"""

from vbench.errors import UnknownNameError, VBenchError
from vbench.metrics.registry import register_metric
from vbench.models import create_model, list_models, register_model
from vbench.optimizations.plan import Executable, OptContext, Stage, list_optimizations, register_optimization
from vbench.profiles import PROFILES, Cell

# Registries fill on import, like timm's models: built-in optimizations, LoRA names, the modes.
import vbench.optimizations.lora  # noqa: E402,F401
import vbench.optimizations.builtin  # noqa: E402,F401
import vbench.workloads  # noqa: E402,F401
import vbench.optimizations.backends  # noqa: E402,F401  deployment backends (optional packages load lazily)

__version__ = "0.1.0"

__all__ = [
    "VBenchError",
    "UnknownNameError",
    "create_model",
    "list_models",
    "register_model",
    "register_metric",
    "Executable",
    "OptContext",
    "Stage",
    "list_optimizations",
    "register_optimization",
    "PROFILES",
    "Cell",
    "__version__",
]
