"""Helpers shared by the gate tests: golden file paths and the tiny project for pytester sessions."""

import json
from pathlib import Path

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "gate"
PROJECT = GOLDEN / "project"
CELL_ARGS = [
    "-p", "no:cacheprovider", "--vb-models", "tiny_net", "--vb-img-sizes", "32",
    "--benchmark-max-time", "0.002", "--benchmark-min-rounds", "8",
]


def make_project(pytester) -> None:
    """Copy the tiny project (conftest registering ``tiny_net`` and the cell function) into pytester."""
    pytester.makeconftest((PROJECT / "conftest.py").read_text())
    pytester.makepyfile(test_cells=(PROJECT / "test_cells.py").read_text())


def local_key() -> str:
    """The hardware key a vbench run on this machine's CPU gets with the default --vb-threads."""
    import torch

    from vbench.machine import hardware_key
    from vbench.settings import resolve_threads

    return hardware_key("cpu", resolve_threads(None, torch.device("cpu")))


def local_baseline(path: Path, *, scale: float = 1.0, source: str = "baseline.json") -> Path:
    """A golden file rewritten with this machine's hardware key (and samples scaled), saved at ``path``."""
    data = json.loads((GOLDEN / source).read_text())
    data["machine_info"]["hardware_key"] = local_key()
    for bench in data["benchmarks"]:
        bench["stats"]["data"] = [x * scale for x in bench["stats"]["data"]]
    path.write_text(json.dumps(data))
    return path


def golden_baselines():
    """The three golden baseline sessions (K = 3), oldest first."""
    from vbench.compare import load_run

    return [load_run(GOLDEN / name) for name in ("baseline.json", "session-2.json", "session-3.json")]
