"""In a real browser, what a new user meets in the first hour: definitions set once on the
Data page reach every view, and a file with one stray quote imports with that line set apart."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
TIMEOUT = 30_000
expect.set_options(timeout=TIMEOUT)


def _page(browser) -> Page:
    context = browser.new_context(viewport={"width": 1400, "height": 1600})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    return page


def _pick(page: Page, label: str, option: str) -> None:
    """Add ``option`` to the multiselect labelled ``label`` (type to search, then Enter)."""
    box = page.locator('[data-testid="stMultiSelect"]').filter(has_text=label).first
    box.locator("input").click()
    box.locator("input").fill(option)
    page.get_by_role("option", name=option, exact=True).click()
    page.keyboard.press("Escape")


def test_conversion_set_on_the_data_page_reaches_paths_and_funnels(server, browser):
    SHOTS.mkdir(exist_ok=True)
    page = _page(browser)
    page.goto(server.url + "/Data?tab=definitions")
    expect(page.get_by_role("button", name="Save definitions")).to_be_visible()
    conversion = page.locator('[data-testid="stMultiSelect"]').filter(
        has_text="Conversion touchpoints").first
    conversion.get_by_role("button", name="Clear all").click()
    _pick(page, "Conversion touchpoints", "Checkout")
    page.get_by_role("button", name="Save definitions").click()
    expect(page.get_by_text("Definitions saved")).to_be_visible()
    sidebar = page.get_by_test_id("stSidebar")
    expect(sidebar.get_by_text("Conversion: Checkout")).to_be_visible()
    assert "d.conv=Checkout" in page.url

    sidebar.get_by_role("link", name="Paths").click()
    expect(page.get_by_role("tab", name="Top paths")).to_be_visible()
    expect(page.get_by_text("Conversion: Checkout").first).to_be_visible()
    table = page.locator('[data-testid="stDataFrame"]').first
    # The grid draws on a canvas; its accessible table mirrors the headers and cells.
    expect(table.locator("th").filter(has_text="Converted").first).to_be_attached()
    page.screenshot(path=str(SHOTS / "e2e_paths_definitions.png"), full_page=True)

    sidebar.get_by_role("link", name="Funnels").click()
    chart = page.locator('[data-testid="stPlotlyChart"]').first
    expect(chart).to_be_visible()
    # The default funnel is the most common path to the conversion touchpoint: it ends there.
    # (The chart's frame shows before plotly has drawn its ticks: wait for them.)
    expect(chart.locator("g.ytick text").first).to_be_visible()
    labels = chart.locator("g.ytick text").all_text_contents()
    assert len(labels) >= 2 and "Checkout" in (labels[0], labels[-1]), labels
    page.screenshot(path=str(SHOTS / "e2e_funnels_definitions.png"), full_page=True)


def test_a_stray_quote_quarantines_its_line_and_imports_the_rest(server, browser, tmp_path):
    rows = ["customer_id,timestamp,touchpoint"]
    rows += [f"c{i},2024-01-01 10:{i % 60:02d},Home" for i in range(2_000)]
    rows[1_201] = 'c1200,2024-01-01 10:00,"Home'
    path = tmp_path / "stray_quote.csv"
    path.write_text("\n".join(rows) + "\n")
    page = _page(browser)
    page.goto(server.url + "/Data")
    expect(page.get_by_role("tab", name="Upload", exact=True)).to_be_visible()
    page.locator('input[type="file"]').set_input_files(str(path))
    expect(page.get_by_text("Column mapping")).to_be_visible()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported “stray quote”")).to_be_visible()
    quarantined = page.locator('[data-testid="stMetric"]').filter(has_text="Rows quarantined")
    expect(quarantined.locator('[data-testid="stMetricValue"]')).to_have_text("1")
    imported = page.locator('[data-testid="stMetric"]').filter(has_text="Rows imported")
    expect(imported.locator('[data-testid="stMetricValue"]')).to_have_text("1,999")
    reasons = page.locator('[data-testid="stDataFrame"]').filter(has_text="quote never closed")
    expect(reasons).to_be_visible()
    expect(reasons.locator("td").filter(has_text="line 1202").first).to_be_attached()
