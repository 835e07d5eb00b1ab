"""report.html in a real headless browser: it loads offline without errors and draws what it should.

Needs Playwright's Python package (the `dev` extra) and Debian's chromium (`apt-get install chromium`);
skipped when either is missing. Playwright's own browser download is not used.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

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
