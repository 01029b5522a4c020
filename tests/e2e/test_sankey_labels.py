"""In a real browser: the receipt log's Sankey (27 activities with long names) draws every node
inside the figure and no two node labels overlap."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

ROOT = Path(__file__).resolve().parents[2]
RECEIPT = ROOT.parent / "shared" / "datasets" / "receipt_process_log.csv"
SHOTS = ROOT / "screenshots"
TIMEOUT = 30_000
expect.set_options(timeout=TIMEOUT)

# Boxes of the figure, of every node and of every node label, once Plotly's transition is over
# (two reads 300 ms apart agree).
_GEOMETRY = """async () => {
  const read = () => {
    const plot = document.querySelector('.js-plotly-plot .sankey')?.closest('.js-plotly-plot');
    if (!plot) return null;
    const box = e => { const r = e.getBoundingClientRect();
      return {x: r.left, y: r.top, w: r.width, h: r.height, text: e.textContent}; };
    return {figure: box(plot.querySelector('.main-svg')),
            nodes: [...plot.querySelectorAll('.sankey-node .node-rect')].map(box),
            labels: [...plot.querySelectorAll('.sankey-node .node-label')].map(box)};
  };
  for (let i = 0; i < 40; i++) {
    const a = JSON.stringify(read());
    await new Promise(r => setTimeout(r, 300));
    const b = JSON.stringify(read());
    if (a === b && a !== 'null') return JSON.parse(b);
  }
  return read();
}"""


def _import_receipts(page: Page, base: str) -> str:
    """Upload the receipt log on the Data page; returns the new dataset's id."""
    page.goto(base)
    # A fresh workspace seeds the demo first: on a busy two-core machine that takes a while.
    expect(page.get_by_role("heading", name="Customer journey analytics")).to_be_visible(
        timeout=3 * TIMEOUT)
    page.get_by_role("link", name="Data").first.click()
    upload = page.locator('input[type="file"]').first
    expect(upload).to_be_attached()
    upload.set_input_files(str(RECEIPT))
    expect(page.get_by_text("Column mapping")).to_be_visible()
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Imported “receipt").first).to_be_visible()
    page.get_by_role("link", name="Open it on the overview").click()
    page.wait_for_function("() => window.location.search.includes('dataset=')")
    return page.url.split("dataset=")[1].split("&")[0]


def _overlap(a: dict, b: dict, slack: float = 0.5) -> bool:
    return (a["x"] + slack < b["x"] + b["w"] and b["x"] + slack < a["x"] + a["w"]
            and a["y"] + slack < b["y"] + b["h"] and b["y"] + slack < a["y"] + a["h"])


def _check_sankey(page: Page) -> dict:
    expect(page.locator(".js-plotly-plot .sankey").first).to_be_visible()
    geometry = page.evaluate(_GEOMETRY)
    figure, nodes, labels = geometry["figure"], geometry["nodes"], geometry["labels"]
    assert nodes and len(labels) == len(nodes)
    inside = lambda b: (figure["x"] - 0.5 <= b["x"] and b["x"] + b["w"] <= figure["x"]  # noqa: E731
                        + figure["w"] + 0.5 and figure["y"] - 0.5 <= b["y"]
                        and b["y"] + b["h"] <= figure["y"] + figure["h"] + 0.5)
    assert [n for n in nodes if not inside(n)] == []
    assert [lab["text"] for lab in labels if not inside(lab)] == []
    clashes = [(a["text"], b["text"]) for i, a in enumerate(labels) for b in labels[i + 1:]
               if _overlap(a, b)]
    assert clashes == []
    return geometry


def test_receipt_sankey_labels_fit_and_never_overlap(server, browser):
    assert RECEIPT.is_file(), f"missing {RECEIPT}"
    SHOTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 3000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    dataset = _import_receipts(page, server.url)

    page.goto(f"{server.url}/Paths?dataset={dataset}")
    expect(page.get_by_role("heading", name="Journey flow")).to_be_visible()
    default = _check_sankey(page)
    assert any(lab["text"].endswith("…") for lab in default["labels"])  # long names shortened
    page.screenshot(path=str(SHOTS / "e2e_sankey_receipts.png"), full_page=True)

    # Every activity drawn (no folding): the busiest column holds 30 nodes; still no clash.
    page.goto(f"{server.url}/Paths?dataset={dataset}&top=30&steps=6")
    expect(page.get_by_role("heading", name="Journey flow")).to_be_visible()
    page.wait_for_function("() => window.location.search.includes('top=30')")
    every = _check_sankey(page)
    assert len(every["nodes"]) > len(default["nodes"])
    assert every["figure"]["h"] > default["figure"]["h"]
    page.screenshot(path=str(SHOTS / "e2e_sankey_receipts_all_nodes.png"), full_page=True)
    context.close()
