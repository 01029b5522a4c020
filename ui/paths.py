"""Paths page: settings (kept in the URL), cached analysis calls and the rendered blocks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import streamlit as st

from analysis import figures, paths
from analysis.frames import Filters
from analysis.schema import AnalysisError
from ui import data, definitions
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.tables import show
from ui.text import md, md_list

#: The Steps slider's largest value: moves and paths are counted once for it.
MAX_STEPS = 10

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

    @property
    def journey(self) -> tuple:
        """What every journey-based result depends on: node naming, left-out, merged."""
        return (self.node_by, self.exclude, self.collapse)

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
    _seed("p_steps", _url_int(url, "steps", 5, 2, MAX_STEPS))
    _seed("p_top", _url_int(url, "top", 10, 2, 30))
    _seed("p_node", first("node", node_types, "touchpoint"))
    _seed("p_anchor", first("anchor", list(ANCHORS), "none"))
    _seed("p_at", first("at", touchpoints, touchpoints[0] if touchpoints else None))
    _seed("p_exclude", [t for t in url.get("exclude", []) if t in touchpoints])
    _seed("p_collapse", url.get("collapse") == ["1"])
    cols = st.columns([1, 1, 1, 1.4])
    steps = cols[0].slider("Steps", 2, MAX_STEPS, key="p_steps",
                           help="Columns in the diagram.")
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
    if ctx.definitions.segment in attributes and not url.get("col"):
        _seed("p_col", ctx.definitions.segment)
    if url.get("col") and url["col"][0] in attributes:
        column = url["col"][0]
        _seed("p_col", column)
        values = attributes[column]
        for key in ("a", "b"):
            if url.get(key) and url[key][0] in values:
                _seed(f"p_{key}", url[key][0])


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Counting the groups…")
def group_sizes(path: str, events_id: str, filters: Filters, group_col: str) -> tuple[str, ...]:
    """The values of ``group_col``, most customers first."""
    sizes = paths.group_sizes(data.events_frame(path, events_id, filters),
                                      group_col=group_col)
    return tuple(sizes["value"])


def compare_from_url(ctx: Context, settings: PathSettings) -> PathSettings:
    """The comparison's settings from the link while its tab is closed (kept in the URL)."""
    url = ctx.url
    attributes: dict[str, list[str]] = ctx.events.profile.get("attributes", {})
    column = (url.get("col") or [None])[0]
    if url.get("cmp") != ["attribute"] or column not in attributes:
        return settings
    values = attributes[column]
    group_a, group_b = ((url.get(k) or [None])[0] for k in ("a", "b"))
    return replace(settings, compare="attribute", group_col=column,
                   group_a=group_a if group_a in values else None,
                   group_b=group_b if group_b in values else None)


def compare_widgets(ctx: Context, settings: PathSettings) -> PathSettings:
    """The comparison's own widgets (drawn in its tab); returns the completed settings.

    The groups default to the attribute's two largest values (by customers after filters)."""
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
    largest = group_sizes(ctx.path, ctx.events.id, ctx.filters, column)
    values = [v for v in largest if v in attributes[column]]
    values += [v for v in attributes[column] if v not in values]
    if st.session_state.get("p_a") not in values:
        st.session_state["p_a"] = values[0]
    if st.session_state.get("p_b") not in values:
        others = [v for v in values if v != st.session_state["p_a"]]
        st.session_state["p_b"] = others[0] if others else values[0]
    group_a = cols[1].selectbox("Group A", values, key="p_a")
    group_b = cols[2].selectbox("Group B", values, key="p_b")
    return replace(settings, compare=mode, group_col=column, group_a=group_a, group_b=group_b)


def _counted_steps(max_steps: int, end_at: str | None) -> int:
    """How many steps to count so that moving the Steps slider only cuts cached counts:
    the slider's largest value, except when journeys end at an anchor (steps are then
    counted back from it, so each value is a count of its own)."""
    return max_steps if end_at is not None else MAX_STEPS


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Tracing journeys…")
def _sankey_steps(path: str, events_id: str, filters: Filters, max_steps: int,
                  start_at: str | None, end_at: str | None, journey: tuple) -> paths.SankeySteps:
    node_by, exclude, collapse = journey
    return paths.sankey_steps(
        data.events_frame(path, events_id, filters), max_steps=max_steps, node_by=node_by,
        start_at=start_at, end_at=end_at, exclude=exclude, collapse_repeats=collapse)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def sankey(path: str, events_id: str, filters: Filters, max_steps: int, top_nodes: int,
           start_at: str | None, end_at: str | None, journey: tuple) -> paths.Sankey:
    counted = _sankey_steps(path, events_id, filters, _counted_steps(max_steps, end_at),
                            start_at, end_at, journey)
    return paths.fold_sankey(counted, max_steps, top_nodes)


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Counting paths…")
def _path_counts(path: str, events_id: str, filters: Filters, max_steps: int,
                 start_at: str | None, end_at: str | None, journey: tuple,
                 outcomes: tuple) -> paths.PathCounts:
    node_by, exclude, collapse = journey
    conversion, churn, inactivity_days = outcomes
    return paths.path_counts(
        data.events_frame(path, events_id, filters), max_steps=max_steps, node_by=node_by,
        start_at=start_at, end_at=end_at, exclude=exclude, collapse_repeats=collapse,
        conversion=list(conversion), churn=list(churn), inactivity_days=inactivity_days)


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def top_paths(path: str, events_id: str, filters: Filters, max_steps: int,
              start_at: str | None, end_at: str | None, journey: tuple,
              outcomes: tuple) -> paths.TopPaths:
    counted = _path_counts(path, events_id, filters, _counted_steps(max_steps, end_at),
                           start_at, end_at, journey, outcomes)
    return paths.paths_from_counts(counted, max_steps, limit=50)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Counting transitions…")
def transitions(path: str, events_id: str, filters: Filters, journey: tuple):
    node_by, exclude, collapse = journey
    return paths.transitions(data.events_frame(path, events_id, filters), node_by=node_by,
                             exclude=exclude, collapse_repeats=collapse)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Following channels…")
def switching(path: str, events_id: str, filters: Filters, exclude: tuple[str, ...]):
    return paths.channel_switching(data.events_frame(path, events_id, filters), exclude=exclude)


@st.cache_data(max_entries=32, ttl=3600, show_spinner="Testing every transition…")
def comparison(path: str, events_id: str, filters: Filters, groups: tuple, journey: tuple,
               conversion: tuple[str, ...]):
    group_col, group_a, group_b = groups
    node_by, exclude, collapse = journey
    return paths.compare_transitions(
        data.events_frame(path, events_id, filters), group_col=group_col, group_a=group_a,
        group_b=group_b, node_by=node_by, exclude=exclude, collapse_repeats=collapse,
        conversion=list(conversion),
    )


def render_sankey(ctx: Context, s: PathSettings) -> None:
    result = sankey(ctx.path, ctx.events.id, ctx.filters, s.max_steps, s.top_nodes,
                    s.start_at, s.end_at, s.journey)
    st.subheader("Journey flow", anchor=False)
    if result.status != "ok":
        st.info(result.message)
        return
    st.caption(
        "Each column is a step of customers' time-ordered journeys; band width is customers. "
        "“(end)” marks journeys that stop there; “Other” gathers the rarer steps. "
        "Hover a node or band for its full name, customers and share."
    )
    fig = figures.sankey_chart(result.links)
    st.plotly_chart(fig, width="stretch", height=int(fig.layout.height))
    st.caption(result.coverage.sentence())
    csv_download(result.links, "sankey_links.csv", "Download the links")


def render_top_paths(ctx: Context, s: PathSettings) -> None:
    d = ctx.definitions
    result = top_paths(ctx.path, ctx.events.id, ctx.filters, s.max_steps, s.start_at,
                       s.end_at, s.journey, (d.conversion, d.churn, d.inactivity_days))
    if result.status != "ok":
        st.info(result.message)
        return
    st.caption(
        f"The most common journeys, as their first {s.max_steps} steps. Share is of all "
        "customers shown; converted and churned shares are of the path's customers "
        f"({md(d.summary())}). Click a header to sort."
    )
    labels = {"path": "Path", "steps": "Steps", "customers": "Customers",
              "share": "Share of customers", "continues_share": "Journey goes on"}
    if d.conversion:
        labels["converted_share"] = "Converted"
    if d.churn_defined:
        labels["churned_share"] = "Churned"
    show(result.table, labels,
         percent=("share", "continues_share", "converted_share", "churned_share"))
    if not d.conversion:
        definitions.missing(ctx, "conversion", key="paths_top_conv",
                            reason="to see which paths convert")
    elif not d.churn_defined:
        definitions.missing(ctx, "churn", key="paths_top_churn",
                            reason="to see which paths churn")
    st.caption(result.coverage.sentence())
    csv_download(result.table, "top_paths.csv", "Download top paths")


def render_transitions(ctx: Context, s: PathSettings) -> None:
    result = transitions(ctx.path, ctx.events.id, ctx.filters, s.journey)
    if result.status != "ok":
        st.info(result.message)
        return
    st.caption(
        "Read across a row: where customers go next from that step. Colour is the share of "
        "the row's moves, the number is how many moves; hover for the median time between."
    )
    st.plotly_chart(figures.transition_heatmap(result.table), width="stretch")
    with st.expander("Every move as a table"):
        show(result.table, {
            "source": "From", "target": "To", "transitions": "Moves", "customers": "Customers",
            "share_of_row": "Share of moves from here", "median_seconds": "Median time between",
        }, percent=("share_of_row",), durations=("median_seconds",))
    st.caption(result.coverage.sentence())
    csv_download(result.table, "transitions.csv", "Download the transition matrix")


def render_switching(ctx: Context, s: PathSettings) -> None:
    result = switching(ctx.path, ctx.events.id, ctx.filters, s.exclude)
    if result.status != "ok":
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
    if s.compare == "converted" and not ctx.definitions.conversion:
        definitions.missing(ctx, "conversion", key="paths_cmp_conv",
                            reason="to compare converted and other customers")
        return
    try:
        result = comparison(ctx.path, ctx.events.id, ctx.filters,
                            (s.group_col, s.group_a, s.group_b), s.journey,
                            ctx.definitions.conversion)
    except AnalysisError as error:
        st.warning(f"{md(error.problem)} {md(error.hint)}")
        return
    if result.status == "degenerate" and result.table.empty:
        st.info(md(result.message))
        return
    (label_a, n_a), (label_b, n_b) = result.groups.items()
    st.caption(
        f"Share of customers making each move at least once: A = {md(label_a)} ({n_a:,}), "
        f"B = {md(label_b)} ({n_b:,}). Differences are in percentage points (pp), share A "
        "− share B; a lift of “new” means no customer of B made the move. Chi-square or "
        "Fisher test per move, p-values adjusted (Holm) for the number of moves tested; "
        "significant means adjusted p < 0.05; solid bars are significant."
        + (" Converters count only moves before their first conversion "
           f"({md_list(result.conversion)})." if s.compare == "converted" else "")
    )
    if result.message:
        st.info(md(result.message))
    fig = figures.transition_difference_chart(result.table, groups=(label_a, label_b))
    st.plotly_chart(fig, width="stretch", height=int(fig.layout.height))
    _comparison_table(result.table)
    csv_download(result.table, "transition_comparison.csv", "Download the comparison")


def _comparison_table(table) -> None:
    """The comparison as people read it: shares in %, the difference in percentage points,
    the lift as "1.25×" or "new"."""
    shown = table.assign(difference=table["difference"] * 100,
                         lift=table["lift"].map(figures.ratio_text))
    number = st.column_config.NumberColumn
    st.dataframe(shown, hide_index=True, column_order=[
        "source", "target", "customers_a", "share_a", "customers_b", "share_b", "difference",
        "lift", "test", "p_value", "p_adjusted", "significant",
    ], column_config={
        "source": "From", "target": "To",
        "customers_a": number("Customers A", format="localized"),
        "share_a": number("Share A", format="percent"),
        "customers_b": number("Customers B", format="localized"),
        "share_b": number("Share B", format="percent"),
        "difference": number("Difference (A − B)", format="%+.1f pp"),
        "lift": st.column_config.TextColumn("Lift (A ÷ B)"), "test": "Test",
        "p_value": number("p-value", format="%.2g"),
        "p_adjusted": number("Adjusted p", format="%.2g"),
        "significant": st.column_config.CheckboxColumn("Significant"),
    })
