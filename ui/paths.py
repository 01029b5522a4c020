"""Paths page: settings (kept in the URL), cached analysis calls and the rendered blocks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import streamlit as st

from analysis import figures, frames, paths
from analysis.frames import Filters
from analysis.path_compare import compare_transitions
from analysis.schema import AnalysisError
from ui import data
from ui.downloads import csv_download
from ui.sidebar import Context

NODE_LABELS = {"touchpoint": "Touchpoint", "channel": "Channel", "stage": "Stage"}
ANCHORS = {"none": "Whole journeys", "start": "Paths after a touchpoint",
           "end": "Paths leading to a touchpoint"}


@dataclass(frozen=True)
class PathSettings:
    max_steps: int = 5
    top_nodes: int = 10
    node_by: str = "touchpoint"
    anchor: str = "none"
    anchor_touchpoint: str | None = None
    exclude: tuple[str, ...] = ()
    collapse: bool = False
    compare: str = "converted"
    group_col: str | None = None
    group_a: str | None = None
    group_b: str | None = None

    @property
    def start_at(self) -> str | None:
        return self.anchor_touchpoint if self.anchor == "start" else None

    @property
    def end_at(self) -> str | None:
        return self.anchor_touchpoint if self.anchor == "end" else None

    def params(self) -> dict[str, list[str]]:
        out = {"steps": [str(self.max_steps)], "top": [str(self.top_nodes)],
               "node": [self.node_by], "anchor": [self.anchor], "exclude": list(self.exclude),
               "collapse": ["1"] if self.collapse else [], "cmp": [self.compare]}
        if self.anchor != "none" and self.anchor_touchpoint:
            out["at"] = [self.anchor_touchpoint]
        if self.compare == "attribute" and self.group_col:
            out.update(col=[self.group_col], a=[self.group_a or ""], b=[self.group_b or ""])
        return out


def _seed(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def _url_int(url: dict, key: str, default: int, low: int, high: int) -> int:
    try:
        return min(max(int(url.get(key, [default])[0]), low), high)
    except ValueError:
        return default


def controls(ctx: Context) -> PathSettings:
    """The view's settings: widgets seeded from the URL on entry."""
    url = ctx.url
    profile = ctx.events.profile
    touchpoints = sorted(profile.get("touchpoints", {}))
    node_types = [n for n in NODE_LABELS if n == "touchpoint" or profile.get(f"{n}s")]
    first = lambda key, options, default: (  # noqa: E731
        url[key][0] if url.get(key) and url[key][0] in options else default)
    _seed("p_steps", _url_int(url, "steps", 5, 2, 10))
    _seed("p_top", _url_int(url, "top", 10, 2, 30))
    _seed("p_node", first("node", node_types, "touchpoint"))
    _seed("p_anchor", first("anchor", list(ANCHORS), "none"))
    _seed("p_at", first("at", touchpoints, touchpoints[0] if touchpoints else None))
    _seed("p_exclude", [t for t in url.get("exclude", []) if t in touchpoints])
    _seed("p_collapse", url.get("collapse") == ["1"])
    cols = st.columns([1, 1, 1, 1.4])
    steps = cols[0].slider("Steps", 2, 10, key="p_steps", help="Columns in the diagram.")
    top = cols[1].slider("Nodes per step", 2, 30, key="p_top",
                         help="The rest of each step is folded into “Other”.")
    node_by = cols[2].selectbox("Name steps by", node_types, format_func=NODE_LABELS.get,
                                key="p_node")
    anchor = cols[3].selectbox("Journeys", list(ANCHORS), format_func=ANCHORS.get,
                               key="p_anchor")
    cols = st.columns([1.4, 2, 1])
    anchor_tp = None
    if anchor != "none":
        anchor_tp = cols[0].selectbox("Anchor touchpoint", touchpoints, key="p_at")
    exclude = cols[1].multiselect("Leave out touchpoints", touchpoints, key="p_exclude",
                                  placeholder="None left out")
    collapse = cols[2].toggle("Merge repeats", key="p_collapse",
                              help="Count consecutive identical steps once.")
    _seed_compare(ctx)
    return PathSettings(steps, top, node_by, anchor, anchor_tp, tuple(exclude), collapse)


def _seed_compare(ctx: Context) -> None:
    url = ctx.url
    attributes: dict[str, list[str]] = ctx.events.profile.get("attributes", {})
    _seed("p_cmp", "attribute" if url.get("cmp") == ["attribute"] and attributes
          else "converted")
    if url.get("col") and url["col"][0] in attributes:
        column = url["col"][0]
        _seed("p_col", column)
        values = attributes[column]
        for key in ("a", "b"):
            if url.get(key) and url[key][0] in values:
                _seed(f"p_{key}", url[key][0])


def compare_widgets(ctx: Context, settings: PathSettings) -> PathSettings:
    """The comparison's own widgets (drawn in its tab); returns the completed settings."""
    attributes: dict[str, list[str]] = ctx.events.profile.get("attributes", {})
    options = ["converted"] + (["attribute"] if attributes else [])
    mode = st.radio(
        "Compare", options, key="p_cmp", horizontal=True,
        format_func={"converted": "Converted vs not converted",
                     "attribute": "Two values of an attribute"}.get,
    )
    if mode != "attribute":
        return replace(settings, compare=mode)
    cols = st.columns(3)
    column = cols[0].selectbox("Attribute", sorted(attributes), key="p_col")
    values = attributes[column]
    if st.session_state.get("p_a") not in values:
        st.session_state["p_a"] = values[0]
    if st.session_state.get("p_b") not in values:
        st.session_state["p_b"] = values[1] if len(values) > 1 else values[0]
    group_a = cols[1].selectbox("Group A", values, key="p_a")
    group_b = cols[2].selectbox("Group B", values, key="p_b")
    return replace(settings, compare=mode, group_col=column, group_a=group_a, group_b=group_b)


def _table(df: pd.DataFrame) -> pd.DataFrame:
    """For display: without attrs (Streamlit tries to serialise them)."""
    out = df.copy()
    out.attrs = {}
    return out


def _events(path: str, events_id: str, filters: Filters):
    return frames.load(data._open_workspace(path), events_id, filters)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Tracing journeys…")
def sankey(path: str, events_id: str, filters: Filters, s: PathSettings) -> pd.DataFrame:
    return paths.sankey_links(
        _events(path, events_id, filters), max_steps=s.max_steps, top_nodes=s.top_nodes,
        node_by=s.node_by, start_at=s.start_at, end_at=s.end_at, exclude=s.exclude,
        collapse_repeats=s.collapse,
    )


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Counting paths…")
def top_paths(path: str, events_id: str, filters: Filters, s: PathSettings) -> pd.DataFrame:
    return paths.top_paths(
        _events(path, events_id, filters), max_steps=s.max_steps, limit=50, node_by=s.node_by,
        start_at=s.start_at, end_at=s.end_at, exclude=s.exclude, collapse_repeats=s.collapse,
    )


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Counting transitions…")
def transitions(path: str, events_id: str, filters: Filters, s: PathSettings) -> pd.DataFrame:
    return paths.transition_matrix(
        _events(path, events_id, filters), node_by=s.node_by, exclude=s.exclude,
        collapse_repeats=s.collapse,
    )


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Following channels…")
def switching(path: str, events_id: str, filters: Filters, s: PathSettings):
    return paths.channel_switching(_events(path, events_id, filters), exclude=s.exclude)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Testing every transition…")
def comparison(path: str, events_id: str, filters: Filters, s: PathSettings) -> pd.DataFrame:
    return compare_transitions(
        _events(path, events_id, filters), group_col=s.group_col, group_a=s.group_a,
        group_b=s.group_b, node_by=s.node_by, exclude=s.exclude, collapse_repeats=s.collapse,
    )


def render_sankey(ctx: Context, s: PathSettings) -> None:
    links = sankey(ctx.path, ctx.events.id, ctx.filters, s)
    st.subheader("Journey flow", anchor=False)
    if links.empty:
        st.info("No journey matches these settings: clear the anchor or the filters.")
        return
    st.caption(
        "Each column is a step of customers' time-ordered journeys; band width is customers. "
        "“(end)” marks journeys that stop there; “Other” gathers the rarer steps. "
        "Hover a band for its customers and share."
    )
    st.plotly_chart(figures.sankey_chart(links), width="stretch")
    st.caption(links.attrs["coverage"].sentence())
    csv_download(links, "sankey_links.csv", "Download the links")


def render_top_paths(ctx: Context, s: PathSettings) -> None:
    top = top_paths(ctx.path, ctx.events.id, ctx.filters, s)
    st.caption(
        f"The most common journeys, as their first {s.max_steps} steps. Share is of all "
        "customers shown; converted and churned shares are of the path's customers "
        f"(conversion: {', '.join(top.attrs['conversion']) or 'not defined'}; churn: "
        f"{', '.join(top.attrs['churn']) or 'not defined'}). Click a header to sort."
    )
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(_table(top), hide_index=True, column_config={
        "share": pct, "continues_share": st.column_config.NumberColumn(
            "continues", format="percent", help="Journey goes on beyond these steps"),
        "converted_share": st.column_config.NumberColumn("converted", format="percent"),
        "churned_share": st.column_config.NumberColumn("churned", format="percent"),
    })
    st.caption(top.attrs["coverage"].sentence())
    csv_download(top, "top_paths.csv", "Download top paths")


def render_transitions(ctx: Context, s: PathSettings) -> None:
    matrix = transitions(ctx.path, ctx.events.id, ctx.filters, s)
    if matrix.empty:
        st.info("No customer has two steps, so there is no transition to show.")
        return
    st.caption(
        "Read across a row: where customers go next from that step. Colour is the share of "
        "the row's moves, the number is how many moves; hover for the median time between."
    )
    st.plotly_chart(figures.transition_heatmap(matrix), width="stretch")
    st.caption(matrix.attrs["coverage"].sentence())
    csv_download(matrix, "transitions.csv", "Download the transition matrix")


def render_switching(ctx: Context, s: PathSettings) -> None:
    result = switching(ctx.path, ctx.events.id, ctx.filters, s)
    if result.message:
        st.info(result.message)
        return
    cols = st.columns(2)
    cols[0].metric("Journeys that cross channels", f"{result.cross_channel_share:.1%}",
                   help=f"{result.cross_channel_customers:,} of {result.customers:,} "
                   "customers use two or more channels.", border=True)
    cols[1].metric("Moves that switch channel", f"{result.switch_share:.1%}", border=True,
                   help="Consecutive events in different channels / all consecutive events.")
    st.caption("Read across a row: from one channel, where the next event happens.")
    st.plotly_chart(
        figures.transition_heatmap(result.matrix, source_col="source_channel",
                                   target_col="target_channel"),
        width="stretch",
    )
    csv_download(result.matrix, "channel_switching.csv", "Download the channel matrix")


def render_comparison(ctx: Context, s: PathSettings) -> None:
    if s.compare == "attribute" and s.group_a == s.group_b:
        st.info("Pick two different values to compare.")
        return
    try:
        table = comparison(ctx.path, ctx.events.id, ctx.filters, s)
    except AnalysisError as error:
        st.warning(f"{error.problem} {error.hint}")
        return
    groups = table.attrs["groups"]
    (label_a, n_a), (label_b, n_b) = groups.items()
    st.caption(
        f"Share of customers making each move at least once: A = {label_a} ({n_a:,}), "
        f"B = {label_b} ({n_b:,}). Chi-square or Fisher test per move, p-values adjusted "
        "(Holm) for the number of moves tested; significant means adjusted p < 0.05."
        + (" Converters count only moves before their first conversion."
           if s.compare == "converted" else "")
    )
    if table.attrs["message"]:
        st.info(table.attrs["message"])
    pct = st.column_config.NumberColumn(format="percent")
    st.dataframe(_table(table), hide_index=True, column_config={
        "share_a": pct, "share_b": pct, "difference": pct,
        "lift": st.column_config.NumberColumn(format="%.2f×"),
        "p_value": st.column_config.NumberColumn(format="%.2g"),
        "p_adjusted": st.column_config.NumberColumn(format="%.2g"),
    })
    csv_download(table, "transition_comparison.csv", "Download the comparison")
