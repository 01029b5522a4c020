"""Review packs: one self-contained HTML file to review a decision offline.

The file opens from disk in any browser, with no server and no network: Plotly.js is inlined
once, figures stay interactive, and a Content-Security-Policy forbids every network load. It
can be attached to a ticket or shown in a meeting, and it prints on A4.

All caller text (title, settings, sentences, table headers and cells) is HTML-escaped, so it
is shown, never interpreted. As a second line of defence the policy only runs the scripts
this module wrote: each inline script is allowed by its SHA-256 hash, not by
``'unsafe-inline'``, so a tag that slipped past escaping still could not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Sequence
from functools import lru_cache

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from analysis.schema import ParameterError

MAX_TABLE_ROWS = 200
"""Longer tables show their first ``MAX_TABLE_ROWS`` rows and say how many were left out."""

FIGURE_HEIGHT = "420px"
"""Height of a figure whose layout sets none."""

# Plotly.js 4 shows a "Share chart..." button that uploads the figure to Plotly Cloud by
# default; a pack must never offer to send its data anywhere.
_PLOTLY_CONFIG = {"displaylogo": False, "showSendToCloud": False, "responsive": True}
_SCRIPT = re.compile(r"<script[^>]*>(.*?)</script>", re.DOTALL)
# Looks like a formatted number: "1,234", "−4.1 pp", "12.5%", "$3.2k", "0.001".
_NUMBER_TEXT = re.compile(r"^[<>≤≥~≈]?\s*[+\-−]?[$€£]?\s?\d[\d,. \u202f]*(\s?(%|pp|[kKMB×x]))?$")

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1a1a1a; background: #fff; max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.2rem; margin: 1.6rem 0 .5rem; border-bottom: 1px solid #ddd;
  padding-bottom: .2rem; }
h3 { font-size: 1rem; margin: 1.2rem 0 .4rem; }
.subtitle { font-size: 1.05rem; color: #444; margin: 0; }
.generated { color: #666; font-size: .85rem; margin: .3rem 0 0; }
.warning { border: 2px solid #b45309; border-left-width: 8px; background: #fff7ed;
  padding: .6rem .8rem; margin: .6rem 0; font-weight: 600; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem;
  margin: 0; }
dl.settings dt { font-weight: 600; color: #444; }
dl.settings dd { margin: 0; overflow-wrap: anywhere; }
ul.findings li { margin: .3rem 0; }
.figure, .table { break-inside: avoid; page-break-inside: avoid; margin-bottom: 1rem; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .2rem .5rem; text-align: left;
  vertical-align: top; }
th { background: #f3f4f6; border-bottom: 2px solid #bbb; }
tbody tr:nth-child(even) td { background: #fafafa; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.table-wrap { overflow-x: auto; }
.caption { color: #555; font-size: .85rem; margin: .3rem 0; }
.empty { color: #666; font-style: italic; }
p.note { margin: .3rem 0; }
@page { size: A4; margin: 14mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  .modebar-container { display: none !important; }
  .warning, th, tbody tr:nth-child(even) td { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
  .table-wrap { overflow: visible; }
  thead { display: table-header-group; }
  tr, .warning, li { break-inside: avoid; page-break-inside: avoid; }
  h2, h3 { break-after: avoid; page-break-after: avoid; }
}
"""


def review_pack(
    title: str,
    *,
    subtitle: str = "",
    settings: Sequence[tuple[str, str]] = (),
    findings: Sequence[str] = (),
    warnings: Sequence[str] = (),
    tables: Sequence[tuple[str, pd.DataFrame]] = (),
    figures: Sequence[tuple[str, go.Figure]] = (),
    notes: Sequence[str] = (),
    generated: str = "",
) -> str:
    """A self-contained HTML page to review a result offline.

    Parameters
    ----------
    title : str
        What is reviewed ("Free delivery in the North region"); the page and tab title.
    subtitle : str, optional
        One line under the title (the decision asked for, the dataset).
    settings : sequence of (str, str)
        Label and value of everything needed to reproduce the result: dataset, mode, KPIs,
        change date, filters, link. Values are shown as text, links are not made clickable.
    findings : sequence of str
        One plain-words sentence per result.
    warnings : sequence of str
        Caveats shown first, in boxes (sample-ratio mismatch, "not causal without a
        control").
    tables : sequence of (str, DataFrame)
        Titled tables that already carry human column labels and formatted values. A
        non-default index is shown as leading columns; numeric-looking columns are
        right-aligned; tables over ``MAX_TABLE_ROWS`` rows show that many and say how many
        were left out. Frames are not mutated.
    figures : sequence of (str, plotly.graph_objects.Figure)
        Titled figures, embedded interactive. Figures are not mutated.
    notes : sequence of str
        Closing paragraphs: method, definitions, who to ask.
    generated : str, optional
        When the pack was made, as the caller wants it written ("2024-05-01 14:03 UTC");
        this package never reads the clock.

    Returns
    -------
    str
        The whole HTML document. Write it with ``.encode("utf-8")``; it declares UTF-8.

    Raises
    ------
    ParameterError
        An empty title, a single string where a list of sentences is expected, a settings
        entry that is not a pair, a table that is not a DataFrame or a figure that is not a
        Plotly figure.

    Notes
    -----
    The page loads nothing: its policy is ``default-src 'none'`` with scripts allowed only
    by hash, inline styles, and images and fonts only as ``data:`` or ``blob:`` URLs (the
    modebar's PNG download draws through a ``blob:`` image; both are made in the page, never
    fetched). Plotly.js needs no ``'unsafe-eval'`` for SVG traces (scatter, bar): checked
    in Chromium for load, hover, zoom and PNG download. Map traces fetch tiles and
    topojson from the network and cannot render in a pack; WebGL traces are untested.
    Plotly renders its own small tag set inside figure text (``<b>``, ``<br>``, ``<a>``);
    that is the figure builder's concern, the pack leaves figures as they are.
    """
    _check_inputs(title, settings, findings, warnings, tables, figures, notes)
    figure_parts = [_figure(i, name, fig) for i, (name, fig) in enumerate(figures, start=1)]
    scripts = ([_plotly_js()] if figures else []) + [s for _, s in figure_parts]
    header = [f"<h1>{_esc(title)}</h1>"]
    if subtitle:
        header.append(f'<p class="subtitle">{_esc(subtitle)}</p>')
    if generated:
        header.append(f'<p class="generated">Generated {_esc(generated)}</p>')
    body = [
        "<header>" + "".join(header) + "</header>",
        "".join(f'<div class="warning" role="note">{_esc(w)}</div>' for w in warnings),
        _section("Settings", _settings(settings) if settings else ""),
        _section("Findings", _bullets(findings)),
        _section("Figures", "".join(div for div, _ in figure_parts)),
        _section("Tables", "".join(_table(name, df) for name, df in tables)),
        _section("Notes", "".join(f'<p class="note">{_esc(n)}</p>' for n in notes)),
    ]
    plotly_tag = f"<script>{scripts[0]}</script>" if figures else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
        + _head(title, scripts)
        + "</head>\n<body>\n"
        + plotly_tag
        + "\n".join(part for part in body if part)
        + "\n</body>\n</html>\n"
    )


def _check_inputs(title, settings, findings, warnings, tables, figures, notes) -> None:
    """Raise :class:`ParameterError` for inputs the pack cannot show faithfully."""
    if not isinstance(title, str) or not title.strip():
        raise ParameterError("The review pack needs a title.", "Pass e.g. the experiment name.")
    for name, value in (("findings", findings), ("warnings", warnings), ("notes", notes),
                        ("settings", settings), ("tables", tables), ("figures", figures)):
        if isinstance(value, str | pd.DataFrame | go.Figure):
            raise ParameterError(
                f"{name} got a single {type(value).__name__}, not a list.",
                f"Wrap it in a list: {name}=[...].",
            )
    for label, pairs, kind in (("settings", settings, None), ("tables", tables, pd.DataFrame),
                               ("figures", figures, go.Figure)):
        for item in pairs:
            if not (isinstance(item, tuple | list) and len(item) == 2):
                raise ParameterError(
                    f"Each entry of {label} must be a (title, value) pair, got {item!r:.60}.",
                    f"Pass {label}=[(\"Title\", value), ...].",
                )
            if kind is not None and not isinstance(item[1], kind):
                raise ParameterError(
                    f"{label} entry {item[0]!r} holds a {type(item[1]).__name__}, "
                    f"not a {kind.__name__}.",
                    f"Pass {label}=[(\"Title\", {kind.__name__}), ...].",
                )


def _esc(text: object) -> str:
    """Caller text as HTML text: never markup, quotes escaped for attributes too."""
    return html.escape(str(text), quote=True)


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    """The bundled Plotly.js, read once per process (it is ~5 MB)."""
    return plotly.offline.get_plotlyjs()


def _sha256(script: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def _head(title: str, scripts: Sequence[str]) -> str:
    """``<head>``: charset first, then the policy (it only covers what follows it)."""
    script_src = " ".join(_sha256(s) for s in scripts) or "'none'"
    policy = (
        f"default-src 'none'; script-src {script_src}; style-src 'unsafe-inline'; "
        "img-src data: blob:; font-src data:; base-uri 'none'; form-action 'none'"
    )
    return (
        '<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_esc(title)}</title>\n"
        f"<style>{_CSS}</style>\n"
    )


def _section(heading: str, content: str) -> str:
    """A titled section, or nothing when it has no content."""
    return f"<section><h2>{heading}</h2>{content}</section>" if content else ""


def _settings(settings: Sequence[tuple[str, str]]) -> str:
    """Label/value pairs as a two-column definition list."""
    items = "".join(f"<dt>{_esc(label)}</dt><dd>{_esc(value)}</dd>" for label, value in settings)
    return f'<dl class="settings">{items}</dl>'


def _bullets(sentences: Sequence[str]) -> str:
    """Sentences as a bullet list, or nothing."""
    if not sentences:
        return ""
    return '<ul class="findings">' + "".join(f"<li>{_esc(s)}</li>" for s in sentences) + "</ul>"


def _figure(number: int, title: str, fig: go.Figure) -> tuple[str, str]:
    """The figure's ``<div>`` (with its script tag) and that script's text, for its hash.

    ``div_id`` is fixed so the same inputs give the same file. Plotly writes the figure as
    JSON with ``<`` and ``/`` escaped, so figure text cannot close the script early.
    """
    div = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        include_mathjax=False,
        div_id=f"review-figure-{number}",
        default_height=FIGURE_HEIGHT,
        default_width="100%",
        config=_PLOTLY_CONFIG,
    )
    script = "".join(_SCRIPT.findall(div))
    return f'<div class="figure"><h3>{_esc(title)}</h3>{div}</div>', script


def _table(title: str, df: pd.DataFrame) -> str:
    """A titled, escaped HTML table of at most ``MAX_TABLE_ROWS`` rows."""
    frame = _flat(df)
    shown = frame.head(MAX_TABLE_ROWS)
    numeric = [_is_numeric(frame.iloc[:, i]) for i in range(frame.shape[1])]
    head = "".join(
        f'<th scope="col" class="num">{_esc(c)}</th>' if num else f'<th scope="col">{_esc(c)}</th>'
        for c, num in zip(frame.columns, numeric, strict=True)
    )
    rows = []
    for values in shown.itertuples(index=False, name=None):
        cells = "".join(
            f'<td class="num">{_cell(v)}</td>' if num else f"<td>{_cell(v)}</td>"
            for v, num in zip(values, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    parts = [f'<div class="table"><h3>{_esc(title)}</h3>']
    if frame.empty:
        parts.append('<p class="empty">No rows.</p>')
    if len(frame.columns):
        parts.append(
            f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    left_out = len(frame) - len(shown)
    if left_out:
        parts.append(
            f'<p class="caption">Showing the first {len(shown):,} of {len(frame):,} rows; '
            f"{left_out:,} rows left out.</p>"
        )
    return "".join(parts) + "</div>"


def _flat(df: pd.DataFrame) -> pd.DataFrame:
    """The frame with a meaningful index as columns and column levels joined by " / "."""
    out = df
    if not isinstance(df.index, pd.RangeIndex) or df.index.name is not None:
        out = df.reset_index(allow_duplicates=True)
    if isinstance(out.columns, pd.MultiIndex):
        out = out.set_axis(
            [" / ".join(str(p) for p in c if str(p) != "") for c in out.columns], axis=1
        )
    return out


def _cell(value: object) -> str:
    """One cell as escaped text; missing values blank, floats without float noise."""
    if value is None or (not isinstance(value, str | bytes) and pd.api.types.is_scalar(value)
                         and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return _esc(format(value, ".10g"))
    return _esc(value)


def _is_numeric(values: pd.Series) -> bool:
    """Numbers, or text that reads as formatted numbers, are right-aligned."""
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    return bool(len(text)) and bool(text.str.match(_NUMBER_TEXT).all())
