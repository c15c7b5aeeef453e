"""report.html and the visualizer in a real headless Chromium (Debian's ``chromium``; no download).

Playwright drives the system browser through ``executable_path``; nothing is fetched at run time.
Screenshots go to the test's tmp folder, and also to ``$VBENCH_SCREENSHOT_DIR`` when set (that is
how ``docs/img/`` is refreshed: ``VBENCH_SCREENSHOT_DIR=docs/img pytest tests/test_browser.py``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from vbench.report import write_report
from vbench.report.viz import module_tree
from vbench.report.viz_html import serve_in_thread, viz_html

# A run whose cells carry the correctness guard's verdict (only those can be recommended).
SMOKE = Path(__file__).resolve().parent.parent / "fixtures" / "cpu" / "2026-11-22-smoke-amd-epyc-2t.json"
# Flags that keep headless Chromium quiet and offline in containers (root, no GPU, no network).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _chromium() -> str | None:
    for name in (os.environ.get("VBENCH_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        path = name and shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (vbench's dev extra) is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on PATH: `apt-get install chromium` (.ci/run does)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        # A persistent context gives Chromium a fresh user-data dir of ours instead of its default.
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=exe, headless=True, args=FLAGS, viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


def _shot(page, tmp_path: Path, name: str, **kwargs) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), **kwargs)
    assert path.stat().st_size > 10_000  # a real picture, not a blank page
    target = os.environ.get("VBENCH_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / name)
    return path


def test_report_plots_render(browser, tmp_path):
    result = write_report([SMOKE], tmp_path / "out")
    drawn = [p.name for p in result.plots if p.figure is not None]
    page = browser.new_page()
    page.goto((tmp_path / "out" / "report.html").as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all(
        "img.plot", "els => els.map(e => [e.dataset.plot, e.complete && e.naturalWidth > 0, e.naturalWidth])")
    assert [name for name, _, _ in images] == drawn
    assert all(ok for _, ok, _ in images), images
    assert all(width > 300 for _, _, width in images)
    assert page.locator("p.omitted").count() == len(result.plots) - len(drawn)
    assert page.locator("li.rec-latency").count() == 5  # one per model of the smoke profile
    _shot(page, tmp_path, "report.png")
    page.locator("#plot-speedup_heatmap").scroll_into_view_if_needed()
    _shot(page, tmp_path, "report-plots.png")
    page.close()


@pytest.fixture(scope="module")
def resnet_page(tmp_path_factory):
    path = tmp_path_factory.mktemp("viz") / "resnet18-viz.html"
    path.write_text(viz_html(module_tree("resnet18", img_size=64)))
    return path


def test_visualizer_tree_expands_and_searches(browser, resnet_page, tmp_path):
    page = browser.new_page()
    page.goto(resnet_page.as_uri())
    child = page.locator('[data-name="layer1.0"] > .row')
    assert page.locator('[data-name="layer1"] > .row').is_visible()  # root is open: its children show
    assert not child.is_visible()
    page.click('[data-name="layer1"] > .row .toggle')
    assert child.is_visible()
    assert "BasicBlock" in child.inner_text()
    assert "[1,64,16,16]" in page.locator('[data-name="layer1"] > .row').inner_text()
    _shot(page, tmp_path, "viz.png")
    page.click('[data-name="layer1"] > .row .toggle')
    assert not child.is_visible()
    page.fill("#search", "downsample")
    # layer2..4 each have a downsample Sequential holding a conv and a norm: 3 x 3 names contain it
    assert page.inner_text("#count") == "9 matches"
    assert page.locator('[data-name="layer3.0.downsample"] > .row').is_visible()
    assert not page.locator('[data-name="layer1.0"] > .row').is_visible()
    assert "11.69M params" in page.inner_text("#summary")
    page.close()


def test_served_visualizer_loads(browser, resnet_page):
    server, url = serve_in_thread(resnet_page.read_text())
    try:
        page = browser.new_page()
        page.goto(url)
        assert "resnet18" in page.title()
        assert page.locator(".node").count() > 50
        page.close()
    finally:
        server.shutdown()
        server.server_close()


def _stored_history(folder: Path) -> Path:
    """14 stored sessions of three cells; resnet18's time and norm_time step up +40% at the 9th commit."""
    import numpy as np

    from history_helpers import write_session

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(14):
        noise = {m: float(np.exp(rng.normal(0, 0.015))) for m in ("resnet18", "vit_tiny", "mobilenetv3")}
        slow = 1.4 if i >= 8 else 1.0
        ms = {"resnet18": 12.0 * slow * noise["resnet18"], "vit_tiny": 20.0 * noise["vit_tiny"],
              "mobilenetv3": 6.0 * noise["mobilenetv3"]}
        write_session(folder / f"{i + 1:04d}_s.json", i, ms, norm={m: v / 4 for m, v in ms.items()})
    return folder


def test_history_page_renders_a_plot_per_cell(browser, tmp_path):
    from vbench.history import history_of, write_history

    storage = _stored_history(tmp_path / ".benchmarks" / "test-cpu-2t-torch2")
    result = write_history(history_of([storage]), tmp_path / "out")
    page = browser.new_page()
    page.goto(result.files["history.html"].as_uri())
    page.wait_for_load_state("load")
    images = page.eval_on_selector_all("img.trend", "els => els.map(e => [e.dataset.cell, e.complete && e.naturalWidth > 0])")
    assert [ok for _, ok in images] == [True, True, True]
    assert "resnet18" in images[0][0]  # the cell with a step comes first
    steps = page.locator("tr.step").all_inner_texts()
    assert len(steps) == 3 and all("resnet18" in s and "+4" in s for s in steps)  # time, p90, norm_time
    _shot(page, tmp_path, "history.png", full_page=True)
    page.close()


def test_report_of_a_storage_folder_shows_trends(browser, tmp_path):
    storage = _stored_history(tmp_path / ".benchmarks" / "test-cpu-2t-torch2")
    result = write_report([storage], tmp_path / "out")
    assert "## Trends" in result.files["summary.md"].read_text()
    page = browser.new_page()
    page.goto(result.files["report.html"].as_uri())
    page.wait_for_load_state("load")
    assert page.locator("#trends").is_visible()
    loaded = page.eval_on_selector_all("img.trend", "els => els.map(e => e.complete && e.naturalWidth > 0)")
    assert loaded == [True, True, True]
    page.close()
    single = write_report([SMOKE], tmp_path / "single")  # one run: no history to show
    assert "Trends" not in single.files["report.html"].read_text()
