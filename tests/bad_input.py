"""Every kind of bad input vbench has been tried with, run for real, rendered as docs/bad-input.md.

Each case runs ``pytest bench ...`` (from the repository root, one small cell selected) or
``vbench ...`` in a fresh process, with the files it needs made in a temporary folder. The table holds
the exit status and the one line that explains it. ``tests/test_bad_input_table.py`` reruns every
case and fails when the committed table no longer matches; regenerate it with

    python tests/bad_input.py --write
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "bad-input.md"
GOLDEN = "fixtures/gate"
# One small cell, so that a case whose check regressed runs one cell, not the profile.
CELL = ["--vb-modes", "inference", "--vb-models", "resnet18", "--vb-opts", "eager", "--vb-batch-sizes", "1",
        "--vb-img-sizes", "32", "-p", "no:cacheprovider"]
# The line that explains: pytest's usage error, vbench's one line, or a cell's own failure line.
MESSAGE = re.compile(r"^(ERROR: .*|vbench: (internal )?error: .*|crosscheck: .*|[\w./-]+::\S+ - .*|\S+-bs\d+-\d+px: .*)$")


def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return make


def _torch_save(name: str, what: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        import torch

        from vbench.models import create_model

        obj = {"tensor": lambda: torch.zeros(3), "module": lambda: create_model("resnet18"),
               "truncated": lambda: create_model("resnet18").state_dict(),
               "other": lambda: create_model("resnet18", num_classes=10).state_dict()}[what]()
        torch.save(obj, tmp / name)
        if what == "truncated":
            data = (tmp / name).read_bytes()
            (tmp / name).write_bytes(data[: len(data) // 2])
    return make


def _unreadable_images(name: str) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        for label in ("cat", "dog"):
            (tmp / name / label).mkdir(parents=True)
            for i in range(3):
                (tmp / name / label / f"{i}.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    return make


def _golden_copy(name: str, edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def make(tmp: Path) -> None:
        data = json.loads((REPO / GOLDEN / "baseline.json").read_text())
        edit(data)
        (tmp / name).write_text(json.dumps(data))
    return make


def _samples(value) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        for bench in data["benchmarks"]:
            bench["stats"]["data"] = [value] * len(bench["stats"]["data"])
    return edit


@dataclass(frozen=True)
class Case:
    kind: str  # what the user did wrong, in words
    argv: tuple[str, ...]  # "pytest", "bench", ... or "vbench", ...; {tmp} is the case's temporary folder
    setup: Callable[[Path], None] | None = None


def P(*args: str) -> tuple[str, ...]:  # noqa: N802 - reads as the command
    return ("pytest", "bench", *args)


def V(*args: str) -> tuple[str, ...]:  # noqa: N802
    return ("vbench", *args)


CASES: list[Case] = [
    # the cell matrix
    Case("unknown model", P("--vb-models", "resnet19")),
    Case("unknown optimization", P("--vb-opts", "eagr")),
    Case("batch size 0", P("--vb-batch-sizes", "0")),
    Case("batch size not a number", P("--vb-batch-sizes", "eight")),
    Case("batch size beyond any machine", P("--vb-batch-sizes", "99999999999999999999")),
    Case("empty list option", P("--vb-batch-sizes=")),
    Case("negative image size", P("--vb-img-sizes", "-1")),
    Case("unknown mode", P("--vb-modes", "infer")),
    Case("unknown profile", P("--vb-profile", "huge")),
    Case("unknown device", P("--vb-device", "tpu")),
    Case("CUDA asked for on a machine without it", P("--vb-device", "cuda")),
    Case("threads not a number", P("--vb-threads", "many")),
    Case("tolerance not CLASS=NUMBER", P("--vb-tolerance", "bf16")),
    Case("matrix file missing", P("--vb-matrix", "{tmp}/nope.yaml")),
    Case("matrix file not YAML", P("--vb-matrix", "{tmp}/m.yaml"), _write("m.yaml", "entries: [unclosed\n")),
    Case("matrix file not UTF-8", P("--vb-matrix", "{tmp}/m.yaml"), _write("m.yaml", b"entries:\n  - models: [\xff\xfe]\n")),
    Case("matrix file with a Python tag", P("--vb-matrix", "{tmp}/m.yaml"),
         _write("m.yaml", "entries: !!python/object/apply:os.system ['echo pwned']\n")),
    Case("matrix entry with an unknown key", P("--vb-matrix", "{tmp}/m.yaml"),
         _write("m.yaml", "entries:\n  - {models: [resnet18], optimisations: [eager]}\n")),
    # checkpoints and data
    Case("checkpoint missing", P("--vb-weights", "resnet18={tmp}/nope.pth")),
    Case("checkpoint for a model not in the run", P("--vb-weights", "resnet81={tmp}/w.pth"), _write("w.pth", b"x")),
    Case("checkpoint empty", P("--vb-weights", "resnet18={tmp}/w.pth"), _write("w.pth", b"")),
    Case("checkpoint truncated", P("--vb-weights", "resnet18={tmp}/w.pth"), _torch_save("w.pth", "truncated")),
    Case("checkpoint not a checkpoint", P("--vb-weights", "resnet18={tmp}/w.pth"), _write("w.pth", b"junk" * 100)),
    Case("checkpoint of a bare tensor", P("--vb-weights", "resnet18={tmp}/w.pth"), _torch_save("w.pth", "tensor")),
    Case("checkpoint of a whole module (needs pickle)", P("--vb-weights", "resnet18={tmp}/w.pth"),
         _torch_save("w.pth", "module")),
    Case("checkpoint of another head size", P("--vb-weights", "resnet18={tmp}/w.pth"), _torch_save("w.pth", "other")),
    Case("data folder missing", P("--vb-data", "{tmp}/nope")),
    Case("data folder of only unreadable images", P("--vb-modes", "data", "--vb-batch-sizes", "2", "--vb-data", "{tmp}/img",
                                                     "--vb-data-workers", "0"),
         _unreadable_images("img")),
    Case("image size the model cannot take (a skip, not an error)",
         P("--vb-models", "vit_tiny_patch16_224", "--vb-img-sizes", "8", "-rs")),
    # the gate
    Case("gate tolerance nan", P("--vb-fail-on", "time:nan%")),
    Case("gate tolerance list empty", P("--vb-fail-on", ",,,")),
    Case("gate tolerance with two percent signs", P("--vb-fail-on", "time:5%%")),
    Case("gate metric unknown", P("--vb-fail-on", "speed:5%")),
    Case("baseline runs 0", P("--vb-baseline-runs", "0")),
    Case("compare with a run number that is not stored", P("--benchmark-storage", "{tmp}/store", "--benchmark-compare=9999")),
    Case("compare given a folder", P("--benchmark-compare={tmp}"),),
    Case("compare with a truncated baseline", P(f"--benchmark-compare={GOLDEN}/truncated.json")),
    Case("compare with JSON of another tool", P(f"--benchmark-compare={GOLDEN}/not_benchmark.json")),
    Case("compare with a baseline without raw samples", P(f"--benchmark-compare={GOLDEN}/no_samples.json")),
    Case("compare with another machine's baseline", P(f"--benchmark-compare={GOLDEN}/foreign.json")),
    Case("output JSON path is a folder", P("--benchmark-json={tmp}")),
    Case("verdict file in an unwritable place", P("--vb-verdict-json", "/proc/version/v.json")),
    # vbench commands
    Case("vbench: unknown subcommand", V("bogus")),
    Case("vbench list: unknown kind", V("list", "model")),
    Case("vbench --load: missing file", V("--load", "{tmp}/nope.py", "list", "models")),
    Case("vbench compare: baseline with zero samples", V("compare", "{tmp}/zero.json", f"{GOLDEN}/current.json"),
         _golden_copy("zero.json", _samples(0.0))),
    Case("vbench compare: baseline with NaN samples", V("compare", "{tmp}/nan.json", f"{GOLDEN}/current.json"),
         _golden_copy("nan.json", _samples(float("nan")))),
    Case("vbench compare: baseline with string samples", V("compare", "{tmp}/str.json", f"{GOLDEN}/current.json"),
         _golden_copy("str.json", _samples("fast"))),
    Case("vbench compare: another machine's baseline", V("compare", f"{GOLDEN}/foreign.json", f"{GOLDEN}/current.json")),
    Case("vbench compare: bad --fail-on", V("compare", f"{GOLDEN}/baseline.json", f"{GOLDEN}/current.json",
                                            "--fail-on", "time:five")),
    Case("vbench compare: --md in an unwritable place", V("compare", f"{GOLDEN}/baseline.json", f"{GOLDEN}/current.json",
                                                          "--md", "/proc/version/x.md")),
    Case("vbench compare: --json is a folder", V("compare", f"{GOLDEN}/baseline.json", f"{GOLDEN}/current.json",
                                                 "--json", "{tmp}")),
    Case("vbench report: a folder without runs", V("report", "{tmp}/empty", "--out", "{tmp}/r"),
         _write("empty/readme.txt", "nothing here")),
    Case("vbench report: negative threshold", V("report", f"{GOLDEN}/baseline.json", "--threshold", "-1",
                                                "--out", "{tmp}/r")),
    Case("vbench report: --out is a file", V("report", f"{GOLDEN}/baseline.json", "--out", "{tmp}/f"), _write("f", "x")),
    Case("vbench viz: unknown model", V("viz", "resnet181")),
    Case("vbench viz: image size 0", V("viz", "resnet18", "--img-size", "0")),
    Case("vbench viz: port out of range", V("viz", "resnet18", "--img-size", "32", "--out", "{tmp}/v.html", "--serve",
                                            "--port", "99999")),
    Case("vbench ab: unknown revision", V("ab", "no-such-rev", "HEAD", "--", "bench")),
    Case("vbench history: a folder without sessions", V("history", "{tmp}/empty", "--out", "{tmp}/h"),
         _write("empty/readme.txt", "nothing here")),
    Case("vbench bisect: unknown revision", V("bisect", "no-such-rev", "HEAD", "--", "bench")),
]


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str


def _normalize(text: str, tmp: Path) -> str:
    from gate_helpers import local_key

    text = text.replace(str(tmp), "{tmp}").replace(str(REPO) + "/", "").replace(str(REPO), "<repository>")
    return text.replace(local_key(), "<this machine's key>")


def run_case(case: Case) -> Outcome:
    """Run ``case`` in a fresh process; its exit status and explaining line."""
    with tempfile.TemporaryDirectory(prefix="vbench-bad-input-") as name:
        tmp = Path(name)
        if case.setup is not None:
            case.setup(tmp)
        argv = [a.replace("{tmp}", str(tmp)) for a in case.argv]
        command = [sys.executable, "-m", "pytest", argv[1], *CELL, *argv[2:]] if argv[0] == "pytest" else \
            [sys.executable, "-m", "vbench", *argv[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_ADDOPTS"))}
        env.update(HF_HUB_OFFLINE="1", COLUMNS="400")
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        lines = [ln.strip() for ln in (done.stderr + "\n" + done.stdout).splitlines()]
        picked = next((ln for ln in lines if MESSAGE.match(ln) and "Benchmark" not in ln),
                      next((ln for ln in reversed(lines) if ln), ""))
        skip = next((ln for ln in lines if ln.startswith("SKIPPED") and "px: " in ln), None)
        if skip is not None and done.returncode == 0:  # a cell skipped with its reason: the reason is the line
            picked = skip.split(": ", 1)[1]
        return Outcome(done.returncode, _normalize(picked, tmp))


def run_all(cases: list[Case] = CASES, workers: int = 2) -> list[Outcome]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(run_case, cases))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'")


def render(outcomes: list[Outcome], cases: list[Case] = CASES) -> str:
    head = (DOC.read_text().split("<!-- table -->")[0] if DOC.exists() else "# Bad input\n\n") + "<!-- table -->\n"
    rows = ["| what | command | exit | the line it gives |", "|---|---|---|---|"]
    for case, out in zip(cases, outcomes):
        command = " ".join(case.argv)
        rows.append(f"| {_cell(case.kind)} | `{_cell(command)}` | {out.status} | {_cell(out.message)} |")
    return head + "\n".join(rows) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOC.relative_to(REPO)}")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    text = render(run_all())
    if args.write:
        DOC.write_text(text)
        print(f"wrote {DOC.relative_to(REPO)}: {len(CASES)} cases")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
