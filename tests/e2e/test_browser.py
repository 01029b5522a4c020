"""In a real browser: upload a CSV, confirm the mapping, see the KPIs; a copied link
opened in a fresh browser shows the same dataset and filters."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from playwright.sync_api import Page, expect

SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
TIMEOUT = 30_000
# A cold app on a loaded two-core machine takes longer than expect()'s 5 s default.
expect.set_options(timeout=TIMEOUT)


def _csv(path: Path) -> Path:
    rows = []
    for i in range(40):
        customer = f"cust{i:02d}"
        channel = "web" if i % 2 else "store"
        rows.append((customer, f"2024-03-{1 + i % 28:02d} 09:00", "Landing", channel))
        if i % 4 == 0:
            rows.append((customer, f"2024-03-{1 + i % 28:02d} 09:30", "Purchase", channel))
        if i % 5 == 0:
            rows.append((customer, f"2024-04-{1 + i % 28:02d} 10:00", "Cancel", channel))
    df = pd.DataFrame(rows, columns=["client_id", "event_time", "action", "channel"])
    df.to_csv(path, index=False)
    return path


def _open_demo(server, browser, height: int, *, downloads: bool = False):
    """A tab on Home with the demo dataset picked: (context, page, dataset id, the list that
    collects every request made outside the app)."""
    context = browser.new_context(viewport={"width": 1400, "height": height},
                                  accept_downloads=downloads)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, "data:", "blob:")) else None)
    page.goto(server.url)
    page.wait_for_function("() => window.location.search.includes('dataset=')")
    return context, page, page.url.split("dataset=")[1].split("&")[0], outside


def _metric(page: Page, label: str):
    box = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return box.locator('[data-testid="stMetricValue"]')


def test_upload_confirm_mapping_see_kpis_and_share_the_link(server, browser, tmp_path):
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Customer journey analytics")).to_be_visible()
    page.get_by_role("link", name="Data").first.click()
    expect(page.get_by_role("tab", name="Upload", exact=True)).to_be_visible()

    page.locator('input[type="file"]').set_input_files(str(_csv(tmp_path / "shop.csv")))
    expect(page.get_by_text("Column mapping")).to_be_visible()
    page.screenshot(path=str(SHOTS / "e2e_mapping.png"), full_page=True)
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported “shop”")).to_be_visible()
    expect(_metric(page, "Rows imported")).to_have_text("58")

    page.get_by_role("link", name="Open it on the overview").click()
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    expect(_metric(page, "Customers")).to_have_text("40")
    expect(_metric(page, "Conversion")).to_have_text("25.0%")
    expect(_metric(page, "Churn")).to_have_text("20.0%")

    # Filter on one channel in the sidebar; the URL follows.
    page.get_by_label("Channel").first.click()
    page.get_by_role("option", name="web").click()
    page.keyboard.press("Escape")
    expect(_metric(page, "Customers")).to_have_text("20")
    page.wait_for_function("() => window.location.search.includes('channel=web')")
    shared = page.url
    assert "dataset=" in shared
    page.screenshot(path=str(SHOTS / "e2e_home_filtered.png"), full_page=True)
    context.close()

    fresh = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = fresh.new_page()
    other.set_default_timeout(TIMEOUT)
    other.goto(shared)
    expect(other.get_by_role("heading", name="shop")).to_be_visible()
    expect(_metric(other, "Customers")).to_have_text("20")
    sidebar = other.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("web", exact=True)).to_be_visible()
    assert other.url.split("?")[1] == shared.split("?")[1]
    fresh.close()

    # The upload survives a restart of the server.
    server.restart()
    again = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = again.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(shared)
    expect(page.get_by_role("heading", name="shop")).to_be_visible()
    expect(_metric(page, "Customers")).to_have_text("20")
    again.close()


def test_pages_keep_dataset_and_filters_when_navigating(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url)
    expect(_metric(page, "Customers")).to_be_visible()
    dataset = page.url.split("dataset=")[1].split("&")[0]
    page.goto(f"{server.url}/?dataset={dataset}&channel=app")
    expect(page.get_by_role("heading", name="Customer journey analytics")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('channel=app')")
    page.get_by_role("link", name="Churn").first.click()
    expect(page.get_by_role("heading", name="Churn")).to_be_visible()
    page.wait_for_function("() => window.location.pathname.endsWith('Churn')")
    page.wait_for_function("() => window.location.search.includes('channel=app')")
    assert f"dataset={dataset}" in page.url
    context.close()



def test_a_page_keeps_its_settings_when_left_and_reopened_from_the_sidebar(server, browser):
    """A sidebar link carries only what it is given: the page's own settings come back from
    the session, for the same dataset."""
    context, page, dataset, _ = _open_demo(server, browser, 1400)
    page.goto(f"{server.url}/Paths?dataset={dataset}&steps=3&node=channel")
    expect(page.locator(".js-plotly-plot .sankey").first).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('node=channel')")
    page.get_by_role("link", name="Churn").first.click()
    page.wait_for_function("() => window.location.pathname.endsWith('Churn')")
    expect(page.get_by_role("heading", name="Churn")).to_be_visible()
    assert "node=channel" not in page.url
    page.get_by_role("link", name="Paths").first.click()
    page.wait_for_function("() => window.location.pathname.endsWith('Paths')")
    page.wait_for_function("() => window.location.search.includes('node=channel')")
    assert "steps=3" in page.url and f"dataset={dataset}" in page.url
    expect(page.get_by_role("combobox", name="Name steps by")).to_have_value("Channel")
    expect(page.locator(".js-plotly-plot .sankey").first).to_be_visible()
    context.close()

def test_paths_and_funnels_views_restore_from_a_link(server, browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(server.url)
    expect(page.get_by_role("heading", name="Demo: omnichannel retail")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('dataset=')")
    dataset = page.url.split("dataset=")[1].split("&")[0]
    context.close()

    fresh = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = fresh.new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server.url}/Paths?dataset={dataset}&steps=3&node=channel&anchor=start"
              "&at=Checkout")
    expect(page.get_by_role("heading", name="Journey flow")).to_be_visible()
    expect(page.locator(".js-plotly-plot .sankey").first).to_be_visible()
    expect(page.get_by_role("combobox", name="Journeys")).to_have_value(
        "Paths after a touchpoint")
    page.wait_for_function("() => window.location.search.includes('node=channel')")
    assert "steps=3" in page.url and "at=Checkout" in page.url
    page.screenshot(path=str(SHOTS / "e2e_paths.png"), full_page=True)

    page.goto(f"{server.url}/Funnels?dataset={dataset}&on=touchpoint&steps=Product+page"
              "&steps=Purchase&mode=strict")
    expect(page.get_by_role("combobox", name="Order")).to_have_value("Strictly consecutive")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('mode=strict')")
    assert "steps=Product+page" in page.url
    page.screenshot(path=str(SHOTS / "e2e_funnels.png"), full_page=True)
    fresh.close()


def test_churn_view_restores_from_a_link(server, browser):
    context, page, dataset, _ = _open_demo(server, browser, 1400)
    page.goto(f"{server.url}/Churn?dataset={dataset}&cin=45&clock=first&by=segment&tab=risk")
    expect(page.get_by_role("heading", name="How long customers stay")).to_be_visible()
    expect(page.get_by_role("spinbutton", name="…or inactive for (days)")).to_have_value("45")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    expect(page.get_by_role("tab", name="Who is at risk")).to_have_attribute(
        "aria-selected", "true")
    expect(page.get_by_role("button", name="Download the at-risk list")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('cin=45')")
    assert "by=segment" in page.url and "tab=risk" in page.url
    page.screenshot(path=str(SHOTS / "e2e_churn.png"), full_page=True)
    context.close()


def test_experiments_link_and_offline_review_pack(server, browser, tmp_path):
    context, page, dataset, outside = _open_demo(server, browser, 1600, downloads=True)
    page.goto(f"{server.url}/Experiments?dataset={dataset}&mode=did&grp=region&trt=North"
              "&chg=2025-07-01&kpi=converted&kpi=nps")
    expect(page.get_by_role("heading", name="What changed")).to_be_visible()
    expect(page.get_by_text("for the treated group relative to control").first).to_be_visible()
    expect(page.get_by_role("heading", name="Pre-trend check (event study)")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('trt=North')")
    assert "mode=did" in page.url and "chg=2025-07-01" in page.url
    with page.expect_download() as download:
        page.get_by_role("button", name="Download review pack").click()
    pack = tmp_path / "pack.html"
    download.value.save_as(pack)
    page.screenshot(path=str(SHOTS / "e2e_experiments.png"), full_page=True)
    context.close()
    assert not outside, f"the page called out to {outside}"

    html = pack.read_text(encoding="utf-8")
    assert "Difference-in-differences" in html and "Conversion rose" in html
    assert "trt=North" in html  # the link back to this view
    offline = browser.new_context(offline=True)
    view = offline.new_page()
    requests: list[str] = []
    view.on("request", lambda r: requests.append(r.url))
    view.goto(pack.as_uri())
    expect(view.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    assert view.locator(".js-plotly-plot").count() == 3  # forest, trend, event study
    assert all(url.startswith("file:") for url in requests), requests
    offline.close()


def test_pain_points_view_restores_from_a_link(server, browser):
    context, page, dataset, _ = _open_demo(server, browser, 1600)
    page.goto(f"{server.url}/Pain_points?dataset={dataset}&k=5&w=1,2,1,1&rn=0:Waiting%20on%20hold")
    expect(page.get_by_role("heading", name="Priority matrix")).to_be_visible()
    expect(page.get_by_text("Waiting on hold").first).to_be_visible()
    expect(page.get_by_role("heading", name="Drill down")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('row=')")
    assert "k=5" in page.url and "w=1%2C2%2C1%2C1" in page.url.replace(",", "%2C")
    page.screenshot(path=str(SHOTS / "e2e_painpoints.png"), full_page=True)
    context.close()


def test_touchpoints_link_and_journey_map_downloads(server, browser, tmp_path):
    context, page, dataset, outside = _open_demo(server, browser, 1600, downloads=True)
    page.goto(f"{server.url}/Touchpoints?dataset={dataset}&by=channel&lb=30&seg=persona"
              "&pa=Loyalist&pb=Deal%20hunter&tab=map")
    expect(page.get_by_role("heading", name="Journey map")).to_be_visible()
    expect(page.locator(".js-plotly-plot", has_text="Payment failed").first).to_be_visible()
    expect(page.get_by_role("button", name="Download as PNG")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('pb=Deal')")
    # The link keeps the open tab and the settings of the closed ones.
    assert "tab=map" in page.url and "by=channel" in page.url and "lb=30" in page.url
    with page.expect_download() as png:
        page.get_by_role("button", name="Download as PNG").click()
    assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as html:
        page.get_by_role("button", name="Download as HTML").click()
    saved = tmp_path / "map.html"
    html.value.save_as(saved)
    page.screenshot(path=str(SHOTS / "e2e_touchpoints.png"), full_page=True)
    page.get_by_role("tab", name="Online or offline").click()
    expect(page.get_by_text("Started offline, finished online").first).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('tab=channels')")
    assert "pb=Deal" in page.url and "lb=30" in page.url
    context.close()
    assert not outside, f"the page called out to {outside}"

    offline = browser.new_context(offline=True)
    view = offline.new_page()
    requests: list[str] = []
    view.on("request", lambda r: requests.append(r.url))
    view.goto(saved.as_uri())
    expect(view.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    assert all(url.startswith("file:") for url in requests), requests
    offline.close()
