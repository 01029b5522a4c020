"""Churn page sections below the survival curves: drivers, cohorts, at-risk list, win-back."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import survival
from analysis.figures import sankey_chart
from analysis.figures import survival as survival_figures
from analysis.frames import Filters
from analysis.survival import words
from analysis.survival.at_risk import covariate_label
from analysis.survival.cox import PH_MAX_ROWS
from ui.churn import BASE_COLUMNS, ChurnSettings, churn_table, population_events
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.tables import show
from ui.text import md

AT_RISK_SHOWN = 100


MAX_LEVELS = 12


def default_covariates(table: pd.DataFrame) -> list[str]:
    """Every journey covariate but the mean score (it leaves out customers without feedback),
    text columns with more than MAX_LEVELS values (ids, dates: one term per value) and the
    first touchpoint when the first channel says the same."""
    columns = [c for c in table.columns if c not in BASE_COLUMNS and c != "mean_score"
               and (pd.api.types.is_numeric_dtype(table[c])
                    or table[c].nunique(dropna=True) <= MAX_LEVELS)]
    if "first_channel" in columns and "first_touchpoint" in columns:
        columns.remove("first_touchpoint")
    return columns


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Fitting the churn model (Cox)…")
def churn_model(path: str, events_id: str, feedback_id: str | None, filters: Filters,
                s: ChurnSettings, covariates: tuple[str, ...]):
    """The Cox model of :func:`risk_model` and the covariates it kept; the drivers need no
    ranking of the customers."""
    table = churn_table(path, events_id, feedback_id, filters, s)
    return survival.fit_churn_model(table, covariates=list(covariates))


@st.cache_resource(max_entries=16, ttl=3600, show_spinner="Ranking the customers at risk…")
def risk_model(path: str, events_id: str, feedback_id: str | None, filters: Filters,
               s: ChurnSettings, covariates: tuple[str, ...]) -> survival.AtRiskResult:
    fit, kept = churn_model(path, events_id, feedback_id, filters, s, covariates)
    return survival.rank_at_risk(fit, kept)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def _defaults(path: str, events_id: str, feedback_id: str | None, filters: Filters,
              s: ChurnSettings) -> list[str]:
    """:func:`default_covariates` of the churn table, counted once per table."""
    return default_covariates(churn_table(path, events_id, feedback_id, filters, s))


def _covariates(ctx: Context, table: pd.DataFrame, default: list[str]) -> tuple[str, ...]:
    options = [c for c in table.columns if c not in BASE_COLUMNS]
    if "c_cov" not in st.session_state:
        wanted = [c for c in ctx.url.get("cov", []) if c in options]
        st.session_state["c_cov"] = wanted or default
    st.session_state["c_cov"] = [c for c in st.session_state["c_cov"] if c in options]
    chosen = st.multiselect("Model churn on", options, key="c_cov",
                            format_func=covariate_label, placeholder="Pick covariates")
    return tuple(chosen)


def render_drivers(ctx: Context, s: ChurnSettings) -> list[str]:
    """The hazard-ratio forest plot; returns the covariates (for the URL, when not default)."""
    fb_id = ctx.feedback.id if ctx.feedback else None
    table = churn_table(ctx.path, ctx.events.id, fb_id, ctx.filters, s)
    default = _defaults(ctx.path, ctx.events.id, fb_id, ctx.filters, s)
    covariates = _covariates(ctx, table, default)
    if not covariates:
        st.info("Pick at least one covariate to see what drives churn.")
        return []
    model = churn_model(ctx.path, ctx.events.id, fb_id, ctx.filters, s, covariates)[0].result
    if model.status != "ok":
        st.warning(md(model.message), icon=":material/info:")
        return _url_covariates(default, covariates)
    st.caption(
        "Each dot is a hazard ratio from a Cox model: how much faster customers with this "
        "trait churn than comparable customers without it (text columns compare each value "
        "with the most common one), with the other covariates held equal. Right of 1: they "
        "churn faster; left: they stay longer. Lines are 95% intervals; a line that crosses 1 "
        "is not clear evidence.")
    if s.start_at:
        st.caption(md(f"Covariates describe customers up to their first "
                      f"{' or '.join(s.start_at)}, when their lifetime starts, so later "
                      "behaviour cannot flatter the long-lived."))
    else:
        st.caption("Touchpoints count over the whole lifetime here: those that come with time "
                   "(renewals, logins) look protective partly because long-lived customers had "
                   "more time to reach them. Start lifetimes at the first conversion for "
                   "covariates measured at the start.")
    shown = model.table.assign(covariate=model.table["covariate"].map(covariate_label))
    st.plotly_chart(survival_figures.hazard_forest(shown), width="stretch")
    st.markdown(md(
        f"The model orders {model.concordance:.0%} of comparable pairs of customers correctly "
        f"(concordance {model.concordance:.2f}; 0.5 is chance), fitted on {model.n:,} "
        "customers."))
    if model.message:
        st.caption(md(model.message))
    changing = model.ph_test[model.ph_test["p_value"] < 0.05]["covariate"]
    if len(changing):
        st.caption(md(
            "The effect of " + ", ".join(map(covariate_label, changing)) + " changes over time "
            "(proportional-hazards check, Schoenfeld residuals, p < 0.05): read "
            + ("its hazard ratio" if len(changing) == 1 else "their hazard ratios")
            + " as an average over the lifetime."
            + (f" Checked on a random sample of {PH_MAX_ROWS:,} customers."
               if model.n > PH_MAX_ROWS else "")))
    show(shown, {"covariate": "Covariate", "hazard_ratio": "Hazard ratio",
                 "ci_low": "95% CI low", "ci_high": "95% CI high", "p_value": "p-value",
                 "p_adjusted": "Adjusted p (Benjamini–Hochberg)"},
         ratios=("hazard_ratio", "ci_low", "ci_high"), pvalues=("p_value", "p_adjusted"))
    csv_download(model.table, "churn_drivers.csv", "Download the hazard ratios")
    return _url_covariates(default, covariates)


def _url_covariates(default: list[str], covariates: tuple[str, ...]) -> list[str]:
    return [] if list(covariates) == default else list(covariates)


def render_at_risk(ctx: Context, s: ChurnSettings) -> None:
    fb_id = ctx.feedback.id if ctx.feedback else None
    covariates = tuple(st.session_state.get("c_cov")
                       or _defaults(ctx.path, ctx.events.id, fb_id, ctx.filters, s))
    result = risk_model(ctx.path, ctx.events.id, fb_id, ctx.filters, s, covariates)
    if result.status != "ok":
        st.info(md(result.message))
        return
    ranked = result.table
    st.caption(
        f"The {len(ranked):,} customers who have not churned, most at risk first: relative "
        "hazard is how likely they are to churn at any moment compared with the average "
        "customer in the model (2.00× = twice as likely), from the covariates of \"What "
        "drives churn\". Reasons: the traits that raise their hazard most, with the factor "
        f"each contributes. Showing the top {min(AT_RISK_SHOWN, len(ranked))}; the download "
        "has everyone.")
    if result.model.sampled:
        st.caption(md(result.model.message))
    ranked = ranked.assign(duration_text=ranked["duration_days"].map(words.days_text))
    show(ranked.head(AT_RISK_SHOWN), {
        "risk_rank": "Rank", "customer_id": "Customer", "relative_hazard": "Relative hazard",
        "duration_text": "Customer for", "reasons": "Why",
    }, ratios=("relative_hazard",))
    csv_download(result.table, "at_risk_customers.csv", "Download the at-risk list")


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Building monthly cohorts…")
def cohorts(path: str, events_id: str, filters: Filters, s: ChurnSettings):
    return survival.cohort_retention(population_events(path, events_id, filters, s),
                                     churn_touchpoints=list(s.churn) or None,
                                     inactivity_days=s.days, as_of=s.as_of)


def render_cohorts(ctx: Context, s: ChurnSettings) -> list[str]:
    """The cohort heatmap; returns the view shown when not the default (for the URL)."""
    result = cohorts(ctx.path, ctx.events.id, ctx.filters, s)
    if result.status != "ok":
        st.info(md(result.message))
        return []
    views = {"share_active": "Share still active (the familiar table)",
             "km_survival": "Kaplan–Meier estimate (respects censoring)"}
    wanted = (ctx.url.get("coh") or ["share_active"])[0]
    st.session_state.setdefault("c_coh", wanted if wanted in views else "share_active")
    value = st.radio("Show", list(views), key="c_coh", format_func=views.get, horizontal=True)
    st.caption(
        "Rows: customers by the month of their first event; columns: months since. The "
        "familiar table counts a customer as still active until they churn, including those "
        "the data could not yet follow that far (censoring-blind): hover a cell for how many "
        "customers could not yet have been observed. The Kaplan–Meier view uses only what was "
        "observed.")
    st.plotly_chart(survival_figures.cohort_heatmap(result.table, value=value),
                    width="stretch")
    csv_download(result.table, "cohort_retention.csv", "Download the cohort table")
    return [value] if value != "share_active" else []


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Finding customers who came back…")
def winback(path: str, events_id: str, filters: Filters, s: ChurnSettings, days: int):
    return survival.win_back(population_events(path, events_id, filters, s),
                             inactivity_days=days, churn_touchpoints=list(s.churn) or None,
                             as_of=s.as_of)


def render_winback(ctx: Context, s: ChurnSettings, suggested: int | None) -> None:
    days = s.inactivity_days or suggested
    if not days:
        st.info("Win-back needs an inactivity rule: set “inactive for (days)” above.")
        return
    result = winback(ctx.path, ctx.events.id, ctx.filters, s, int(days))
    if not s.inactivity_days:
        st.caption(f"A gap of more than {days} days counts as churn here (the suggested "
                   "inactivity threshold), as does a churn touchpoint.")
    if result.status != "ok":
        st.info(md(result.message))
        return
    cols = st.columns(3)
    cols[0].metric("Churned", f"{result.churned:,}")
    cols[1].metric("Came back", f"{result.returned:,} ({result.return_share:.1%})",
                   help="Customers who had an event after churning, and their share of all "
                   "who churned.")
    cols[2].metric("Median time away", words.days_text(result.median_gap_days))
    st.markdown("**Where they came back**")
    labels = {"reentry_touchpoint": "Came back through", "reentry_channel": "Channel",
              "customers": "Customers", "share": "Share of returns",
              "median_gap_days": "Median time away"}
    entries = result.entries.assign(
        median_gap_days=result.entries["median_gap_days"].map(words.days_text))
    show(entries, labels, percent=("share",))
    st.caption("Their first steps after coming back:")
    st.plotly_chart(sankey_chart(result.links), width="stretch")
    st.markdown("**Do they stay longer the second time?**")
    st.plotly_chart(survival_figures.survival_chart(
        result.survival.curves, x_title="Days since the lifetime started"), width="stretch")
    st.markdown(md(words.second_lifetime(result.survival)))
    csv_download(result.returns, "win_back.csv", "Download the customers who came back")
