"""The manual stays true: generated pages match the code, every key a run records is documented, every
link points to a file (and heading) that exists, and the README stays one page."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from vbench.tools.docs_gen import REGENERATE, generated
from vbench.schema import DOCUMENTED

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "fixtures").rglob("README.md"))]
RECORDED = [ROOT / "fixtures/cpu/2026-11-22-smoke-amd-epyc-2t.json", ROOT / "fixtures/cpu/2026-11-30-cold-cache/run-1.json.gz"]


@pytest.mark.parametrize("name", sorted(generated()))
def test_generated_pages_are_fresh(name):
    committed = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert committed == generated()[name], f"docs/{name} is stale: regenerate it with `{REGENERATE}`"


def test_every_key_a_recorded_run_carries_is_documented():
    for path in RECORDED:
        data = json.loads(gzip.open(path).read() if path.suffix == ".gz" else path.read_text())
        keys = {k for bench in data["benchmarks"] for k in bench["extra_info"]}
        assert keys - DOCUMENTED.keys() == set(), f"{path.name}: document these in vbench/schema.py"


def test_options_page_covers_every_option_and_subcommand():
    from vbench.cli import build_parser
    from vbench.compare.options import GATE_FLAGS, GATE_OPTIONS
    from vbench.tools.docs_gen import _subcommands
    from vbench.settings import OPTIONS

    page = generated()["options.md"]
    for spec in (*OPTIONS, *GATE_OPTIONS, *GATE_FLAGS):
        assert f"`{spec.flag}" in page and f"`{spec.ini}`" in page, spec.flag
    for name in _subcommands(build_parser()):
        assert f"### `vbench {name}`" in page
    assert "| `--threshold F` |" in page  # the report's, with its help


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_to_existing_files_and_headings(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # https://, mailto:
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.relative_to(ROOT)}: broken link {target}"
        if anchor and resolved.suffix == ".md":
            assert anchor in _anchors(resolved), f"{page.relative_to(ROOT)}: no heading for {target}"


def test_readme_is_one_page():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("phrase", ["development machine", "development vm", "lent to", "fragment"])
def test_pages_speak_of_the_project_not_of_how_it_was_made(phrase):
    for page in PAGES:
        assert phrase not in page.read_text(encoding="utf-8").lower(), f"{page.relative_to(ROOT)}: {phrase!r}"
