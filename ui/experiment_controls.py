"""Experiments page controls: the design, the groups, the change date, the KPIs and options,
seeded from the URL when the page is entered."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import streamlit as st

from ui import definitions as definition_controls
from ui.experiments import (
    AGGREGATIONS,
    CORRECTIONS,
    DEFAULT_KPIS,
    MODES,
    SKEW,
    ExperimentSettings,
    attribute_values,
    data_range,
    outcome_kpis,
    variant_columns,
)
from ui.sidebar import Context
from ui.state import parse_date, parse_int
from ui.text import md

NONE = ""


def _url(ctx: Context, key: str, default: str = "") -> str:
    return (ctx.url.get(key) or [default])[0]


def _seed(ctx: Context, candidates: list[str]) -> None:
    """Widget values from the link when the page is entered."""
    ss, first, last = st.session_state, *data_range(ctx)
    if "x_mode" in ss:
        return
    mode = _url(ctx, "mode")
    ss["x_mode"] = mode if mode in MODES else ("ab" if candidates else "before_after")
    var = _url(ctx, "var")
    ss["x_var"] = var if var in candidates else (candidates[0] if candidates else NONE)
    ss["x_ctl"] = _url(ctx, "ctl")
    middle = first + (last - first) / 2 if first and last else None
    ss["x_chg"] = parse_date(_url(ctx, "chg")) or (None if ss["x_mode"] == "ab" else middle)
    ss["x_grp"] = _url(ctx, "grp")
    ss["x_trt"] = list(ctx.url.get("trt", []))
    days = _url(ctx, "cdays", "30")
    ss["x_cdays"] = parse_int(days, 1, 3650) or 30
    hdays = _url(ctx, "hdays", "0")
    ss["x_hdays"] = parse_int(hdays, 0, 3650) or 0
    ss["x_tp"] = _url(ctx, "tp")
    ss["x_corr"] = _url(ctx, "corr", "holm") if _url(ctx, "corr") in CORRECTIONS else "holm"
    ss["x_cuped"] = _url(ctx, "cuped") == "1"
    ss["x_skew"] = _url(ctx, "skew") if _url(ctx, "skew") in SKEW else "none"
    ss["x_seg"] = _url(ctx, "seg")
    ss["x_agg"] = _url(ctx, "agg") if _url(ctx, "agg") in AGGREGATIONS else "customers"


def _keep(key: str, options: list[str], fallback: str = NONE) -> None:
    if st.session_state.get(key) not in options:
        st.session_state[key] = fallback if fallback in options else options[0]


def controls(ctx: Context) -> ExperimentSettings | None:
    """The design row and options; None (with what to do next) when the design is incomplete."""
    candidates = variant_columns(ctx)
    _seed(ctx, candidates)
    attributes = list(ctx.events.profile.get("attributes", {}))
    touchpoints = sorted(ctx.events.profile.get("touchpoints", {}), key=str.lower)
    mode = st.radio("Design", list(MODES), key="x_mode", format_func=MODES.get,
                    horizontal=True, help="A/B test: customers were randomly assigned to "
                    "variants. Before/after: one group, compared around the date of a "
                    "change. With a control group: difference-in-differences against "
                    "customers who did not get the change.")
    first, last = data_range(ctx)
    cols = st.columns(3)
    variant = control = group = None
    treated: tuple[str, ...] = ()
    if mode == "ab":
        if not candidates:
            st.info("No column has 2 to 8 values to read as variants. Pick “Before/after”, or "
                    "import data with a column holding each customer's variant.",
                    icon=":material/science:")
            return None
        _keep("x_var", candidates, candidates[0])
        variant = cols[0].selectbox("Variant column", candidates, key="x_var",
                                    help="The attribute that says which variant each "
                                    "customer saw.")
        values = attribute_values(ctx, variant)
        _keep("x_ctl", [NONE, *values])
        control = cols[1].selectbox(
            "Control", [NONE, *values], key="x_ctl",
            format_func=lambda v: v or "The largest group",
            help="Every other variant is compared with this one.") or None
    else:
        options = list(attributes) if mode == "did" else []
        if mode == "did":
            if not options:
                st.info("There is no attribute column (region, store, plan…) to tell the "
                        "treated customers from the others. Use “Before/after”, or import data "
                        "with such a column.", icon=":material/science:")
                return None
            _keep("x_grp", options, ctx.definitions.segment or options[0])
            group = cols[1].selectbox("Who got the change: column", options, key="x_grp")
            values = attribute_values(ctx, group)
            st.session_state["x_trt"] = [v for v in st.session_state["x_trt"] if v in values]
            treated = tuple(cols[2].multiselect(
                "…with these values (treated)", values, key="x_trt",
                placeholder="Pick the treated values",
                help="Customers with these values got the change; everyone else is the "
                "control group."))
    chosen = st.session_state.get("x_chg")
    if chosen is not None and first and last and not first <= chosen <= last:
        chosen = st.session_state["x_chg"] = None  # from another dataset, or a bad link
    if mode != "ab" and chosen is None and first and last:
        st.session_state["x_chg"] = first + (last - first) / 2
    change = cols[0 if mode != "ab" else 2].date_input(
        "Change date" if mode != "ab" else "Experiment start (optional)", key="x_chg",
        min_value=first, max_value=last, format="YYYY-MM-DD",
        help="Customers whose first event is on or after this day count as “after”."
        if mode != "ab" else "Outcomes count from this day; events before it are the "
        "pre-period that CUPED uses. Empty: the whole data.")
    change = change if isinstance(change, date) else None
    if mode != "ab" and change is None:
        st.info("Pick the date of the change.", icon=":material/event:")
        return None
    if mode == "did" and not treated:
        st.info("Pick which values of the column got the change: they form the treated group, "
                "the other customers the control group.", icon=":material/group:")
        return None
    return _options(ctx, mode, variant, control, change, group, treated, attributes,
                    touchpoints)


def _options(ctx, mode, variant, control, change, group, treated, attributes, touchpoints):
    d = ctx.definitions
    with st.expander("KPI definitions and test options", icon=":material/tune:"):
        cols = st.columns(3)
        churn_days = int(cols[0].number_input(
            "Churn within (days)", 1, 3650, key="x_cdays",
            help="“Churn within N days”: a churn touchpoint within N days of the first event."))
        _keep("x_tp", [NONE, *touchpoints])
        touchpoint = cols[1].selectbox(
            "Also the rate of reaching", [NONE, *touchpoints], key="x_tp",
            format_func=lambda t: t or "No extra touchpoint") or None
        correction = cols[2].radio("Correct p-values for many tests with", list(CORRECTIONS),
                                   key="x_corr", format_func=CORRECTIONS.get)
        horizon = int(st.number_input(
            "Count each customer's first … days (0 = their whole journey)", 0, 3650,
            key="x_hdays", help="Conversion, revenue, time to convert and reach count only "
            "the first N days after a customer's first event, so customers who started late "
            "are compared like with like; customers seen for less than N days before the data "
            "ends are left out of those KPIs. Recommended for before/after."))
        cols = st.columns(3)
        segments = [NONE, *[a for a in attributes if a not in (variant, group)]]
        _keep("x_seg", segments)
        segment = cols[0].selectbox("Break down by", segments, key="x_seg",
                                    format_func=lambda c: c or "Nothing (all customers)",
                                    help="Each value gets its own rows: for whom did it work?")
        cuped, skew, aggregation = False, "none", "customers"
        if mode == "ab":
            skew = cols[1].selectbox("Skewed metrics (revenue, time)", list(SKEW), key="x_skew",
                                     format_func=SKEW.get)
            cuped = cols[2].toggle(
                "CUPED variance reduction", key="x_cuped", disabled=change is None,
                help="Adjusts each mean KPI by the same customer's value before the "
                "experiment start: same estimate, narrower interval. Needs an experiment start.")
        if mode == "did":
            aggregation = cols[1].radio("Aggregate as", list(AGGREGATIONS), key="x_agg",
                                        format_func=AGGREGATIONS.get)
    if not d.conversion:
        definition_controls.missing(ctx, "conversion", key="exp_conv",
                                    reason="to measure conversion")
    settings = ExperimentSettings(
        mode, (), tuple(d.conversion), tuple(d.churn), churn_days, touchpoint, variant,
        control, change, group, treated, correction, bool(cuped and change), skew,
        segment or None, aggregation, horizon)
    return _pick_kpis(ctx, settings)


def _pick_kpis(ctx: Context, s: ExperimentSettings) -> ExperimentSettings | None:
    catalog = s.catalog()
    available = outcome_kpis(ctx, s)
    if not available:
        st.info("No KPI can be computed yet: pick the conversion touchpoints above, or choose "
                "a touchpoint whose reach to compare under “KPI definitions and test "
                "options”. Feedback with scores linked to these events adds NPS, CSAT and "
                "CES.", icon=":material/info:")
        return None
    if "x_kpi" not in st.session_state:
        wanted = ctx.url.get("kpi")
        st.session_state["x_kpi"] = ([k for k in wanted if k in available] if wanted else
                                     [k for k in DEFAULT_KPIS if k in available])
    st.session_state["x_kpi"] = [k for k in st.session_state["x_kpi"] if k in available]
    chosen = st.multiselect("KPIs", available, key="x_kpi",
                            format_func=lambda k: catalog[k].label,
                            placeholder="Pick the KPIs to compare")
    with st.expander("How each KPI is measured", icon=":material/help:"):
        for k in chosen:
            st.markdown(f"- **{md(catalog[k].label)}**: {md(catalog[k].description)}")
    if not chosen:
        st.info("Pick at least one KPI.", icon=":material/checklist:")
        return None
    return replace(s, kpis=tuple(chosen))


def partial_params() -> dict[str, list[str]]:
    """The design chosen so far (for the URL while the page waits for a missing choice)."""
    ss = st.session_state
    change = ss.get("x_chg")
    return {"mode": [ss.get("x_mode", "")], "var": [ss.get("x_var") or ""],
            "ctl": [ss.get("x_ctl") or ""],
            "chg": [change.isoformat()] if isinstance(change, date) else [],
            "grp": [ss.get("x_grp") or ""], "trt": list(ss.get("x_trt") or []),
            "kpi": list(ss.get("x_kpi") or [])}
