"""The shared sidebar: navigation, dataset picker and global filters, mirrored in the URL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlencode

import streamlit as st

from analysis.definitions import Definitions
from analysis.frames import Filters
from analysis.store import DatasetInfo, Workspace
from ui import data, state
from ui.text import md

#: (script, label, icon, the question the view answers)
PAGES: tuple[tuple[str, str, str, str], ...] = (
    ("app.py", "Home", ":material/home:", "What the data holds and the headline KPIs."),
    ("pages/1_Paths.py", "Paths", ":material/route:",
     "Which ways do customers move through touchpoints and channels?"),
    ("pages/2_Funnels.py", "Funnels", ":material/filter_alt:",
     "Where do customers drop out between stages, and how long does each step take?"),
    ("pages/3_Churn.py", "Churn", ":material/trending_down:",
     "How fast do customers churn, and what makes them churn faster?"),
    ("pages/4_Experiments.py", "Experiments", ":material/science:",
     "Did a change or an A/B test move conversion, NPS, churn or revenue?"),
    ("pages/5_Pain_points.py", "Pain points", ":material/report:",
     "Which complaints, tied to touchpoints, hurt most and should be fixed first?"),
    ("pages/6_Touchpoints.py", "Touchpoints", ":material/hub:",
     "Which touchpoints make or break the journey, earn the conversions, and where do "
     "customers finish: online or offline?"),
    ("pages/7_Data.py", "Data", ":material/upload_file:",
     "Upload files, check the column mapping and the ingest report, manage datasets."),
)

_FILTER_PREFIX = "flt_"
#: Each page's own settings in this browser session, per page, dataset and definitions: the
#: sidebar's link to a page carries them, so leaving a page and coming back keeps its view.
_SETTINGS_KEY = "_page_settings"


@dataclass(frozen=True)
class Context:
    """What every page works on: the workspace, the picked dataset and its global filters."""

    workspace: Workspace
    path: str
    dataset: DatasetInfo | None
    feedback: DatasetInfo | None
    customers: DatasetInfo | None
    filters: Filters
    url: dict[str, list[str]] = field(default_factory=dict)
    definitions: Definitions = field(default_factory=Definitions)

    @property
    def events(self) -> DatasetInfo | None:
        return self.dataset if self.dataset and self.dataset.kind == "events" else None

    def params(self) -> dict[str, list[str]]:
        """The global URL parameters (dataset and filters)."""
        out = state.filters_to_params(self.filters)
        if self.dataset:
            out[state.DATASET_KEY] = [self.dataset.id]
        if self.events:
            out.update(state.definitions_to_params(self.definitions))
        return out


FAVICON = "🧭"


def page_context(title: str, icon: str) -> Context:
    """Set up the page, draw the sidebar, sync the URL; returns the page's context."""
    # An emoji favicon is drawn in the page; a ":material/…:" one is fetched from Google's
    # font servers, so every page view would call out.
    st.set_page_config(page_title=f"{title} · Journey analytics", page_icon=FAVICON,
                       layout="wide")
    url = state.read_url()
    if st.session_state.get("_page") != title:
        # Widget values do not carry over to another page's widgets: the URL (which every
        # navigation link carries) is the source of truth when a page is entered.
        for key in [k for k in st.session_state if str(k).startswith((_FILTER_PREFIX, "ctx_"))]:
            del st.session_state[key]
        st.session_state["_page"] = title
    ws = data.workspace()
    with st.sidebar:
        st.title("Journey analytics", anchor=False)
        nav = st.container()
        dataset = _dataset_picker(ws, url)
        definitions = _definitions(ws, dataset, url)
        summary = st.container()
        filters = _filters(dataset, url) if dataset else Filters()
    feedback = data.linked_feedback(ws, dataset) if dataset else None
    customers = data.linked_customers(ws, dataset) if dataset else None
    ctx = Context(ws, data.workspace_path(), dataset, feedback, customers, filters, url,
                  definitions)
    params = ctx.params()
    state.write_url(params)
    with nav:
        for script, label, page_icon, _ in PAGES:
            st.page_link(script, label=label, icon=page_icon,
                         query_params={**page_settings(label, ctx), **params})
    if ctx.events:
        with summary:
            st.caption(md(definitions.summary()))
            st.page_link("pages/7_Data.py", label="Change definitions", icon=":material/tune:",
                         query_params={**params, "tab": "definitions"})
    return ctx


def _definitions(
    ws: Workspace, dataset: DatasetInfo | None, url: dict[str, list[str]]
) -> Definitions:
    """The link's definitions when it carries them for this dataset, else the saved ones."""
    if dataset is None or dataset.kind != "events":
        return Definitions()
    from_url = state.definitions_from_params(url)
    if from_url is not None and state.first(url, state.DATASET_KEY) == dataset.id:
        return from_url.restricted(dataset.profile)
    return ws.definitions(dataset.id)


def finish(ctx: Context, page_params: dict[str, list[str] | str | None] | None = None) -> None:
    """Write the page's own settings into the URL and offer the link to this exact view;
    remember them for the sidebar's links back to this page."""
    own = {k: [v] if isinstance(v, str) else list(v) for k, v in (page_params or {}).items() if v}
    state.write_url({**ctx.params(), **own})
    if ctx.dataset is not None:
        remembered = st.session_state.setdefault(_SETTINGS_KEY, {})
        remembered[_settings_key(st.session_state.get("_page"), ctx)] = own
    with st.sidebar:
        _share_link(state.read_url())


def page_settings(label: str, ctx: Context) -> dict[str, list[str]]:
    """The settings another page ``label`` last showed in this session, for the same dataset
    and definitions: settings a page seeds from the definitions (the churn rule, the funnel's
    steps) follow an edit of them."""
    if ctx.dataset is None or label == st.session_state.get("_page"):
        return {}
    return st.session_state.get(_SETTINGS_KEY, {}).get(_settings_key(label, ctx), {})


def _settings_key(label: str | None, ctx: Context) -> tuple:
    defined = state.definitions_to_params(ctx.definitions) if ctx.events else {}
    dataset = ctx.dataset.id if ctx.dataset else None
    return label, dataset, tuple(sorted((k, tuple(v)) for k, v in defined.items()))


def _dataset_picker(ws: Workspace, url: dict[str, list[str]]) -> DatasetInfo | None:
    options = data.pickable_datasets(ws)
    if not options:
        st.info("No datasets yet: upload one on the Data page.")
        return None
    by_id = {d.id: d for d in options}
    wanted = state.first(url, state.DATASET_KEY)
    current = st.session_state.get("ctx_dataset")
    pending = st.session_state.pop("_switch_dataset", None)
    if pending in by_id:
        current = st.session_state["ctx_dataset"] = pending
        _reset_filters()
    if current not in by_id:
        if wanted in by_id:
            current = wanted
        else:
            if wanted and not st.session_state.pop("_dataset_deleted", False):
                st.warning("The dataset in this link does not exist any more; showing another.")
            demo_id = ws.get_meta("demo_events_id")
            current = demo_id if demo_id in by_id else options[0].id
        st.session_state["ctx_dataset"] = current
    chosen = st.selectbox(
        "Dataset",
        options=list(by_id),
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].kind}",
        key="ctx_dataset",
        on_change=_reset_filters,
        help="Feedback and customer tables linked to an events dataset come with it.",
    )
    return by_id[chosen]


def _reset_filters() -> None:
    for key in [k for k in st.session_state if str(k).startswith(_FILTER_PREFIX)]:
        del st.session_state[key]
    st.session_state["_drop_url_filters"] = True


def _filters(dataset: DatasetInfo, url: dict[str, list[str]]) -> Filters:
    if st.session_state.pop("_drop_url_filters", False):
        url = {state.DATASET_KEY: [dataset.id]}
    if st.session_state.get("_filters_for") != dataset.id:
        # Filter widgets belong to one dataset: another dataset starts from its URL.
        for key in [k for k in st.session_state if str(k).startswith(_FILTER_PREFIX)]:
            del st.session_state[key]
        st.session_state["_filters_for"] = dataset.id
    profile = dataset.profile
    channels = sorted(profile.get("channels", {}))
    attributes: dict[str, list[str]] = profile.get("attributes", {})
    from_url = state.filters_from_params(url, channels=channels, attributes=attributes)
    st.subheader("Filters", anchor=False)
    start, end = _date_range(profile, from_url)
    chosen_channels: tuple[str, ...] = ()
    if channels:
        _default("flt_channels", list(from_url.channels))
        chosen_channels = tuple(
            st.multiselect("Channel", channels, key="flt_channels", placeholder="All channels")
        )
    chosen_attrs: list[tuple[str, tuple[str, ...]]] = []
    if attributes:
        _default("flt_attrs", [c for c, _ in from_url.attributes])
        columns = st.multiselect(
            "Filter by attribute",
            sorted(attributes),
            key="flt_attrs",
            placeholder="Segment, region, plan…",
        )
        url_values = dict(from_url.attributes)
        for column in columns:
            key = f"flt_attr::{column}"
            _default(key, list(url_values.get(column, ())))
            values = st.multiselect(md(column), attributes[column], key=key,
                                    placeholder="Any value")
            if values:
                chosen_attrs.append((column, tuple(values)))
    filters = Filters(start, end, chosen_channels, tuple(chosen_attrs))
    if not filters.is_empty:
        st.button("Clear filters", on_click=_reset_filters, icon=":material/filter_alt_off:")
    return filters


def _date_range(profile: dict, from_url: Filters) -> tuple[date | None, date | None]:
    if "first" not in profile:
        return None, None
    low = date.fromisoformat(profile["first"][:10])
    high = date.fromisoformat(profile["last"][:10])
    start = min(max(from_url.start or low, low), high)
    end = max(min(from_url.end or high, high), start)
    _default("flt_dates", (start, end))
    picked = st.date_input(
        "Date range", key="flt_dates", min_value=low, max_value=high, format="YYYY-MM-DD",
        help="Dates are in UTC. Events outside the range are left out of every view.",
    )
    picked = tuple(picked) if isinstance(picked, tuple | list) else (picked,)
    start = picked[0] if picked else low
    end = picked[1] if len(picked) > 1 else high
    return (start if start > low else None), (end if end < high else None)


def _default(key: str, value: object) -> None:
    if key not in st.session_state:
        st.session_state[key] = value


def link_to(params: dict[str, list[str]]) -> str:
    """The address of this page with ``params`` ("" when the server address is unknown)."""
    base = (st.context.url or "").split("?")[0]
    if not base:
        return ""
    return base + ("?" + urlencode(params, doseq=True) if params else "")


def _share_link(params: dict[str, list[str]]) -> None:
    link = link_to(params)
    if not link:
        return
    with st.expander("Share this view", icon=":material/link:"):
        st.caption("This link opens the same dataset, filters and settings.")
        st.code(link, language=None, wrap_lines=True)
