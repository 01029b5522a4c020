"""The review pack: escaped caller text, nothing loaded from the network, and a real
browser that renders every figure offline under the pack's Content-Security-Policy."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import plotly.offline
import pytest

from analysis.review_pack import MAX_TABLE_ROWS, review_pack
from analysis.schema import ParameterError
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

HOSTILE = "<script>alert(1)</script>"
PWN = '<img src=x onerror="window.__pwned=1">'
FINDING = (
    "Conversion rose 4.1 pp (95% CI 2.8 to 5.4) for the treated region relative to "
    "control; p < 0.001."
)
WARNING = "Sample-ratio mismatch: 52% of customers are in treatment, 50% were planned."


def _figures() -> list[tuple[str, go.Figure]]:
    bars = go.Figure(go.Bar(x=["Control", "Treated"], y=[0.21, 0.25], name=HOSTILE))
    lines = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], mode="lines+markers"))
    points = go.Figure(go.Scatter(x=[1, 2], y=[2, 1], mode="markers"),
                       layout_title_text="</script><script>window.__pwned=1</script>")
    return [("Conversion by group", bars), ("Daily conversion", lines), ("Spread", points)]


def _table() -> pd.DataFrame:
    return pd.DataFrame({
        "Group <th>": ["=cmd", "<b>x</b>", PWN],
        "Conversion": ["21.0%", "25.1%", "−4.1 pp"],
        "Customers": [1200, 1185, 3],
    })


def _pack(**overrides) -> str:
    kwargs = dict(
        subtitle="Free delivery & the North region",
        settings=[("Dataset", "shop"), ("Link", HOSTILE), ("Filter", PWN)],
        findings=[FINDING],
        warnings=[WARNING, "Not causal without a control group."],
        tables=[("Per group", _table())],
        figures=_figures(),
        notes=["Difference in differences on weekly conversion."],
        generated="2024-05-01 14:03 UTC",
    )
    return review_pack("Free delivery <test>", **{**kwargs, **overrides})


def _our_markup(doc: str) -> str:
    """The document without the inlined Plotly.js bundle (which names CDNs it never uses)."""
    js = plotly.offline.get_plotlyjs()
    assert doc.count(js) == 1
    return doc.replace(js, "")


def test_caller_text_is_escaped_never_markup():
    doc = _our_markup(_pack())
    assert HOSTILE not in doc and "&lt;script&gt;alert(1)&lt;/script&gt;" in doc
    assert "<b>x</b>" not in doc and "<td>&lt;b&gt;x&lt;/b&gt;</td>" in doc
    assert "<td>=cmd</td>" in doc
    assert PWN not in doc and "&lt;img src=x onerror=&quot;window.__pwned=1&quot;&gt;" in doc
    assert "<title>Free delivery &lt;test&gt;</title>" in doc
    assert "<h1>Free delivery &lt;test&gt;</h1>" in doc
    assert "Free delivery &amp; the North region" in doc
    # Figure text travels as JSON with < and / escaped, so it cannot close the script.
    assert "</script><script>window.__pwned" not in doc


def test_sentences_settings_and_headers_are_shown():
    doc = _pack()
    assert html.escape(FINDING) in doc
    assert html.escape(WARNING) in doc and 'class="warning"' in doc
    assert "<dt>Dataset</dt><dd>shop</dd>" in doc
    assert '<th scope="col">Group &lt;th&gt;</th>' in doc
    assert '<th scope="col" class="num">Conversion</th>' in doc
    assert '<th scope="col" class="num">Customers</th>' in doc
    assert '<td class="num">1200</td>' in doc
    assert "Generated 2024-05-01 14:03 UTC" in doc
    for title, _ in _figures():
        assert f"<h3>{title}</h3>" in doc
    # Warnings come before the findings they qualify.
    assert doc.index(html.escape(WARNING)) < doc.index(html.escape(FINDING))


def test_nothing_points_at_the_network_and_plotly_is_inlined_once():
    doc = _pack()
    ours = _our_markup(doc).lower()
    for needle in ('src="http', "src='http", 'href="http', "href='http", "cdn", "<link",
                   "@import", "url(", "mathjax", "<iframe"):
        assert needle not in ours, needle
    assert doc.count("plotly.js v") == 1
    assert doc.count("Plotly.newPlot(") == 3
    assert '"showSendToCloud": false' in doc and '"displaylogo": false' in doc


def test_policy_comes_first_and_allows_only_our_scripts():
    doc = _pack()
    head = doc[: doc.index("</head>")]
    assert head.index('<meta charset="utf-8">') < head.index("Content-Security-Policy")
    assert doc.index("Content-Security-Policy") < doc.index("<script")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', doc).group(1)
    assert "default-src 'none'" in policy and "'unsafe-inline'" not in policy.split(";")[1]
    assert "unsafe-eval" not in policy
    assert len(re.findall(r"'sha256-[A-Za-z0-9+/=]+'", policy)) == 1 + 3  # Plotly.js + figures


def test_a_pack_without_figures_runs_no_script():
    doc = review_pack("Only text", findings=["A sentence."])
    assert "<script" not in doc
    assert "script-src 'none'" in doc
    assert "<h2>Tables</h2>" not in doc and "<h2>Figures</h2>" not in doc


def test_long_tables_show_the_first_rows_and_say_how_many_were_left_out():
    df = pd.DataFrame({"Customer": [f"c{i}" for i in range(250)], "Orders": range(250)})
    doc = review_pack("Long", tables=[("Customers", df)])
    body = doc[doc.index("<tbody>"): doc.index("</tbody>")]
    assert body.count("<tr>") == MAX_TABLE_ROWS
    assert "c199" in body and "c200" not in body
    assert "Showing the first 200 of 250 rows; 50 rows left out." in doc


def test_index_missing_values_and_floats_are_shown_faithfully():
    df = pd.DataFrame({"Share": [0.1 + 0.2, None]}, index=pd.Index(["a", "b"], name="Group"))
    doc = review_pack("Index", tables=[("T", df), ("Empty", df.iloc[0:0])])
    assert '<th scope="col">Group</th>' in doc
    assert '<td class="num">0.3</td>' in doc and '<td class="num"></td>' in doc
    assert "No rows." in doc


def test_inputs_are_not_mutated_and_output_is_deterministic():
    df = _table()
    before = df.copy()
    figures = _figures()
    layout_before = figures[0][1].to_json()
    first = _pack(tables=[("T", df)], figures=figures)
    assert first == _pack(tables=[("T", df)], figures=figures)
    pd.testing.assert_frame_equal(df, before)
    assert figures[0][1].to_json() == layout_before


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"title": " "}, "needs a title"),
        ({"title": "t", "findings": "one sentence"}, "Wrap it in a list"),
        ({"title": "t", "tables": [("T", [1, 2])]}, "not a DataFrame"),
        ({"title": "t", "figures": [("F", {"data": []})]}, "not a Figure"),
        ({"title": "t", "settings": [("only a label",)]}, "(title, value) pair"),
    ],
)
def test_bad_input_says_how_to_fix_it(kwargs, message):
    title = kwargs.pop("title")
    with pytest.raises(ParameterError, match=re.escape(message)):
        review_pack(title, **kwargs)


def test_in_a_real_browser_offline_every_figure_renders_and_nothing_loads(tmp_path: Path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required for the browser tests and was not found at {CHROMIUM}")
    path = tmp_path / "review pack.html"
    path.write_bytes(_pack().encode("utf-8"))
    url = path.as_uri()
    attempted, problems = [], []

    def route(r):
        if r.request.url == url:
            r.continue_()
        else:
            attempted.append(r.request.url)
            r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", route)
            page.on("request", lambda r: r.url != url and attempted.append(r.url))
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("dialog", lambda d: (problems.append("dialog " + d.message), d.dismiss()))
            page.add_init_script(
                "document.addEventListener('securitypolicyviolation', e => console.error("
                "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
            )
            page.goto(url)
            page.wait_for_function(
                "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 3",
                timeout=30_000,
            )
            plots = page.locator(".js-plotly-plot")
            assert plots.count() == 3
            for i in range(3):
                assert plots.nth(i).locator(".main-svg").count() >= 1
                assert plots.nth(i).locator(".point, .trace").count() >= 1
            assert page.locator('[data-title^="Share chart"]').count() == 0
            assert page.get_by_text(HOSTILE, exact=True).count() == 1
            assert page.evaluate("window.__pwned") is None
            assert page.title() == "Free delivery <test>"
        finally:
            browser.close()
    assert attempted == []
    assert problems == []
