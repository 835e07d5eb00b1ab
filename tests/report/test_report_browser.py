"""report.html in a real headless browser: it loads offline without errors and draws what it should.

Needs Playwright's Python package (the `dev` extra) and Debian's chromium (`apt-get install chromium`);
skipped when either is missing. Playwright's own browser download is not used.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import matplotlib.image
import numpy as np
import pytest

from epinet_al.report import load_sweep, summarize, write_report
from tests.report.test_report import LABELS, UNIFORM, VARIANCE, offset, write_run

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Per figure: its title and the names of its legend entries (band traces have no legend entry).
FIGURES_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => ({
    title: div.layout.title.text,
    agents: div.data.filter(t => t.showlegend !== false).map(t => t.name),
    visible: div.data.filter(t => t.showlegend !== false).map(t => t.visible === undefined ? true : t.visible),
}))"""


@pytest.fixture
def browser_tools() -> tuple[ModuleType, str]:
    """Playwright's sync API and the chromium executable; skips the test (before any work) without them."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return sync_api, chromium


@pytest.fixture
def report_html(tmp_path: Path) -> Path:
    """A testbed task with three agents (two of them with two seeds, so with bands)."""
    root = tmp_path / "sweep"
    for seed, delta in [(0, 0.0625), (1, -0.0625)]:
        write_run(root, f"uniform/{seed}", "mlp/uniform", seed, LABELS, offset(UNIFORM, delta))
        write_run(root, f"variance/{seed}", "epinet/variance", seed, LABELS, offset(VARIANCE, delta))
    write_run(root, "entropy/0", "mlp/entropy", 0, LABELS, UNIFORM)
    write_report(summarize(load_sweep(root).runs), tmp_path / "report")
    return tmp_path / "report" / "report.html"


def test_report_html_loads_offline_and_draws_one_curve_per_agent(
    browser_tools: tuple[ModuleType, str], report_html: Path
) -> None:
    sync_api, chromium = browser_tools
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(report_html.as_uri())
            page.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length > 0")
            figures = page.evaluate(FIGURES_JS)
            # A click on a legend entry hides that agent (its mean and band: one legend group).
            # Plotly waits out its double-click delay before it toggles.
            page.locator(".plotly-graph-div").first.locator(".legendtoggle").first.click()
            page.wait_for_function(
                "document.querySelector('.plotly-graph-div').data.some(t => t.visible === 'legendonly')", timeout=5000
            )
            after = page.evaluate(FIGURES_JS)[0]["visible"]
        finally:
            browser.close()
    assert errors == []
    assert [url for url in requests if not url.startswith("file:")] == []  # everything is inline
    curves = figures[0]
    assert curves["title"].startswith("testbed: test/nll vs labels used")
    assert sorted(curves["agents"]) == ["epinet/variance", "mlp/entropy", "mlp/uniform (baseline)"]
    titles = [f["title"] for f in figures]
    assert titles == [
        "testbed: test/nll vs labels used (mean and 95% CI over seeds)",
        "testbed: savings vs target (against mlp/uniform)",
    ]
    assert after[0] == "legendonly" and after[1:] == [True, True]


# The plot area of every figure: plotly's drag rectangle, in CSS pixels of the page.
PLOT_AREAS_JS = """() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(div => {
    const box = div.querySelector('.nsewdrag').getBoundingClientRect();
    return {width: box.width, height: box.height};
})"""


@pytest.fixture
def long_names_html(tmp_path: Path) -> Path:
    """Agents named by several settings each (about 150 characters, as in the trial's mixed folder), one of
    them flagged as collapsed."""
    root = tmp_path / "sweep"
    settings = {
        "budget.candidate_batch_size": [10, 100],
        "budget.eval_labels": [[5, 10, 20], [10, 40, 70, 100]],
        "trainer.optimizer.lr": [0.001, 0.01],
    }
    for variant in (0, 1):
        for seed, delta in [(0, 0.0625), (1, -0.0625)]:
            for agent, curve in [("mlp/uniform", UNIFORM), ("epinet/variance", VARIANCE), ("epinet/uniform", UNIFORM)]:
                head, priority = agent.split("/")
                config = {
                    "head": {"name": head},
                    "acquisition": {"priority": priority},
                    "budget": {k.split(".")[1]: v[variant] for k, v in settings.items() if k.startswith("budget")},
                    "trainer": {"optimizer": {"lr": settings["trainer.optimizer.lr"][variant]}},
                }
                values = offset(curve, delta + variant / 32)
                run = write_run(root, f"{agent}/{variant}/{seed}", agent, seed, LABELS, values, config=config)
                if (agent, variant, seed) == ("epinet/uniform", 1, 0):
                    summary = json.loads((run / "summary.json").read_text())
                    (run / "summary.json").write_text(json.dumps({**summary, "diagnostics": {"collapsed": True}}))
    sweep = load_sweep(root)
    assert max(len(agent) for agent in sweep.runs["agent"]) > 100
    write_report(summarize(sweep.runs), tmp_path / "report", flagged=sweep.flagged)
    return tmp_path / "report" / "report.html"


def test_long_agent_names_leave_the_plots_their_width_and_flags_show(
    browser_tools: tuple[ModuleType, str], long_names_html: Path, tmp_path: Path
) -> None:
    # The trial: plotly put the legend of ~150-character names on the right and each plot shrank to about
    # 70 px; the "Flagged" list of report.md was missing from report.html.
    sync_api, chromium = browser_tools
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(long_names_html.as_uri())
            page.wait_for_function("document.querySelectorAll('.plotly-graph-div .nsewdrag').length > 1")
            areas = page.evaluate(PLOT_AREAS_JS)
            first = page.locator(".plotly-graph-div").first
            shot = tmp_path / "plot.png"
            first.screenshot(path=str(shot))
            text = page.inner_text("body")
        finally:
            browser.close()
    # The page's column is 1200 px wide: every plot keeps most of it, and stays taller than wide / 3.
    assert len(areas) == 2
    for area in areas:
        assert area["width"] > 900 and area["height"] > 250, areas
    # The screenshot of the first figure: its grid lines (plotly_white's #EBF0F8) span the plot area's width.
    image = matplotlib.image.imread(shot)[..., :3]
    grid = (np.abs(image - np.array([235, 240, 248]) / 255) < 3 / 255).all(axis=-1)
    columns = np.flatnonzero(grid.any(axis=0))
    assert columns.size and columns[-1] - columns[0] > 900, (columns[:1], columns[-1:], image.shape)
    assert "Flagged: 1 run whose curve measures little" in text
    assert "epinet/uniform/1/0: collapsed: near-constant predictions" in text
