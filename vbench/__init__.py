"""vbench: a performance regression suite for vision models, built on pytest-benchmark.

Import-light on purpose: importing vbench registers nothing on torch and sets no global flag.
"""

from vbench.errors import UnknownNameError, VBenchError
from vbench.models import create_model, list_models, register_model
from vbench.optimize import Executable, OptContext, Stage, list_optimizations, register_optimization
from vbench.profiles import PROFILES, Cell

import vbench.optimizations  # noqa: E402,F401  registers the built-in optimizations (like timm's models)
import vbench.backends  # noqa: E402,F401  registers the deployment backends (optional packages load lazily)

__version__ = "0.1.0"

__all__ = [
    "VBenchError",
    "UnknownNameError",
    "create_model",
    "list_models",
    "register_model",
    "Executable",
    "OptContext",
    "Stage",
    "list_optimizations",
    "register_optimization",
    "PROFILES",
    "Cell",
    "__version__",
]
