"""Experiments page results: checks, sentences, the result table, charts, power and the
review pack."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis import stats
from analysis.experiments import compare, words
from analysis.figures import experiments as figures
from analysis.review_pack import review_pack
from analysis.schema import AnalysisError
from ui import experiments as exp
from ui.downloads import csv_download
from ui.experiments import ExperimentSettings
from ui.sidebar import Context, link_to
from ui.tables import show
from ui.text import md

MODES_TITLE = {"ab": "A/B test", "before_after": "Before/after (no control group)",
               "did": "Difference-in-differences against a control group"}
SIDES = {"ab": ("Control", "Variant"), "before_after": ("Before", "After"),
         "did": ("Treated before", "Treated after")}


def render_effects(ctx: Context, s: ExperimentSettings) -> compare.Effects | None:
    """The checks, one sentence per KPI, the result table and the forest chart."""
    fb = ctx.feedback.id if ctx.feedback else None
    try:
        result = exp.effects(ctx.path, ctx.events.id, fb, ctx.filters, s)
    except AnalysisError as error:
        st.error(f"{md(error.problem)} {md(error.hint)}")
        return None
    _checks(result, s)
    if result.table.empty:
        st.info(md(result.message or "Nothing to compare with these settings."))
        return result
    st.subheader("What changed", anchor=False)
    for sentence in sentences(result):
        st.markdown("- " + md(sentence))
    if result.status == "degenerate":
        st.caption(md(result.message))
    _result_table(result, s)
    st.subheader("Effects with their 95% intervals", anchor=False)
    st.caption(
        "One panel per KPI, in its own unit. Each dot is the difference "
        f"({SIDES[s.mode][1].lower()} minus {SIDES[s.mode][0].lower()}"
        f"{', beyond the control group' if s.mode == 'did' else ''}); the bar is its 95% "
        "interval. Green: better with confidence; red: worse; grey: the interval crosses 0, "
        "or the p-value adjusted for every test shown is not significant, so the data "
        "cannot tell.")
    st.plotly_chart(figures.effect_forest_chart(figures.forest_rows(result)), width="stretch")
    return result


def _checks(result: compare.Effects, s: ExperimentSettings) -> None:
    if result.srm:
        st.error(md(result.warnings[0]), icon=":material/error:")
    for warning in result.warnings[1 if result.srm else 0:]:
        st.warning(md(warning), icon=":material/warning:")
    if s.mode == "ab":
        if not result.srm and result.srm_p == result.srm_p:
            st.caption(f"Sample-ratio check: the split between variants fits an equal "
                       f"allocation (chi-square p = {result.srm_p:.2f}).")
        if result.unassigned:
            st.caption(f"{result.unassigned:,} customers have no variant, or more than one, "
                       "and are left out of the tests.")
        for kpi, reduction in result.cuped_reduction.items():
            label = s.catalog()[kpi].label
            st.caption(md(f"CUPED reduced the variance of {label} by "
                          f"{max(reduction, 0) * 100:.0f}% using its value before the start."))


def sentences(result: compare.Effects) -> list[str]:
    rows = result.table[result.table["segment"] == compare.ALL]
    return [words.effect_sentence(r, result.mode) for _, r in rows.iterrows()]


def result_table(result: compare.Effects, s: ExperimentSettings) -> pd.DataFrame:
    """The effects with human labels and units, as shown and as written in the review pack."""
    t = result.table
    catalog = s.catalog()
    decimals = t["kpi"].map(lambda k: catalog[k].decimals)
    level_unit = t["kpi"].map(lambda k: catalog[k].unit)
    a, b = SIDES[s.mode]
    out = pd.DataFrame({
        "KPI": t["label"], "Segment": t["segment"], "Comparison": t["comparison"],
        a: [words.number(v, d) + u for v, d, u in zip(t["value_a"], decimals, level_unit,
                                                      strict=True)],
        b: [words.number(v, d) + u for v, d, u in zip(t["value_b"], decimals, level_unit,
                                                      strict=True)],
        "Difference": [words.number(v, d, signed=True) + u for v, d, u in
                       zip(t["difference"], decimals, t["unit"], strict=True)],
        "95% CI": [f"{words.number(lo, d)} to {words.number(hi, d)}{u}" for lo, hi, d, u in
                   zip(t["ci_low"], t["ci_high"], decimals, t["unit"], strict=True)],
        "Relative lift": t["relative_lift"].map(words.lift_text),
        "p-value": t["p_value"], "Adjusted p": t["p_adjusted"],
        f"Customers ({b.lower()})": t["units_b"], f"Customers ({a.lower()})": t["units_a"],
        "Test": t["test"], "Note": t["note"],
    })
    if s.mode == "ab":
        out.insert(out.columns.get_loc("Test"), "Detectable effect (80% power)",
                   [words.number(v, d) + u for v, d, u in
                    zip(t["mde"], decimals, t["unit"], strict=True)])
    if not s.segment:
        out = out.drop(columns="Segment")
    return out


def _result_table(result: compare.Effects, s: ExperimentSettings) -> None:
    shown = result_table(result, s)
    labels = {c: c for c in shown.columns}
    show(shown, labels, pvalues=("p-value", "Adjusted p"))
    correction = exp.CORRECTIONS[s.correction].split(" (")[0]
    st.caption(
        f"Adjusted p: {correction}-corrected over every row of the table, so testing many "
        "KPIs, variants or segments does not manufacture findings. "
        + ("Detectable effect: the smallest difference this sample finds 80% of the time "
           "at the 5% level. " if s.mode == "ab" else "")
        + ("Rates are compared with the two-proportion z-test, means with Welch's t-test."
           if s.mode != "did" else "Difference-in-differences: the treated group's change "
           "minus the control group's change over the same months."))
    csv_download(result.table, "experiment_effects.csv", "Download the results")


def render_power(result: compare.Effects, s: ExperimentSettings) -> None:
    """Sample size needed for a target effect, from the control group's numbers."""
    rows = result.table[(result.table["segment"] == compare.ALL)
                        & result.table["value_a"].notna()].drop_duplicates("kpi")
    if rows.empty:
        return
    catalog = s.catalog()
    with st.expander("Plan the next test: customers needed for a target effect",
                     icon=":material/calculate:"):
        cols = st.columns(2)
        kpi = cols[0].selectbox("KPI", list(rows["kpi"]), key="x_pw_kpi",
                                format_func=lambda k: catalog[k].label)
        info, row = catalog[kpi], rows.set_index("kpi").loc[kpi]
        step = 10 ** -info.decimals
        mde = float(row["mde"]) if row["mde"] == row["mde"] else 1.0
        target = cols[1].number_input(
            f"Smallest effect worth finding ({info.diff_unit.strip() or 'difference'})",
            min_value=step, value=max(round(abs(mde), info.decimals), step), step=step,
            key="x_pw_target", format=f"%.{info.decimals}f")
        needed = sample_size(row, info, target)
        if needed is None:
            st.caption("Not computable: the control group has no variation in this KPI.")
        else:
            st.markdown(md(f"About {needed:,} customers per group find a difference of "
                           f"{target:g}{info.diff_unit} in {info.label} 80% of the time at "
                           "the 5% level (two-sided)."))


def sample_size(row: pd.Series, info, target: float) -> int | None:
    """Customers per group for ``target`` (display units). Means: the standard deviation is
    read back from the table's detectable effect, mde = z · sd · √(1/n_a + 1/n_b)."""
    if info.kind == "rate":
        p = float(row["value_a"]) / info.scale
        return stats.sample_size_proportion(p, target / info.scale) if 0 < p < 1 else None
    mde, n_a, n_b = float(row["mde"]), float(row["units_a"]), float(row["units_b"])
    if not (mde > 0 and n_a > 0 and n_b > 0):
        return None
    sd = mde / (stats.mde_mean(1.0, n_a, n_b))
    return stats.sample_size_mean(sd, target)


def render_over_time(ctx: Context, s: ExperimentSettings) -> str:
    """A KPI month by month per group, the change marked; in DiD mode the event study under
    it. Returns the KPI shown (for the URL)."""
    catalog = s.catalog()
    wanted = (ctx.url.get("trend") or [""])[0]
    if st.session_state.get("x_trend") not in s.kpis:
        st.session_state["x_trend"] = wanted if wanted in s.kpis else s.kpis[0]
    st.subheader("Over time", anchor=False)
    kpi = st.selectbox("KPI over time", list(s.kpis), key="x_trend",
                       format_func=lambda k: catalog[k].label)
    info, fb = catalog[kpi], ctx.feedback.id if ctx.feedback else None
    series = exp.trend(ctx.path, ctx.events.id, fb, ctx.filters, s, kpi)
    st.caption(md(
        f"{info.label} of the customers who started in each month"
        + (", per variant" if s.mode == "ab" else ", treated against control"
           if s.mode == "did" else "") + "; shaded: 95% interval (wide where few customers "
        "started). The dashed line marks the " + ("experiment start." if s.mode == "ab"
                                                  else "change.")))
    st.plotly_chart(trend_figure(series, s, kpi), width="stretch")
    csv_download(series, "experiment_trend.csv", "Download the monthly values")
    if s.mode == "did":
        _render_event_study(ctx, s, kpi)
    return kpi


def trend_figure(series: pd.DataFrame, s: ExperimentSettings, kpi: str):
    info = s.catalog()[kpi]
    return figures.kpi_trend_chart(series, kpi=info.label, unit=info.unit.strip(),
                                   change_date=s.change)


def _render_event_study(ctx: Context, s: ExperimentSettings, kpi: str) -> None:
    info, fb = s.catalog()[kpi], ctx.feedback.id if ctx.feedback else None
    st.subheader("Pre-trend check (event study)", anchor=False)
    study = exp.event_study_result(ctx.path, ctx.events.id, fb, ctx.filters, s, kpi)
    if study.status != "ok":
        st.info(md(study.message))
        return
    st.caption(
        "The treated − control difference month by month, relative to the month before the "
        "change (set to 0). Before the change the dots should sit near 0: the groups moved "
        "in parallel, which is what difference-in-differences assumes. After it, they show "
        "how the effect builds up.")
    if study.pretrend_warning:
        st.warning(md(study.pretrend_warning), icon=":material/warning:")
    st.plotly_chart(event_figure(study, info), width="stretch")


def event_figure(study, info):
    return figures.event_study_chart(study.table, kpi=info.label, unit=info.diff_unit.strip(),
                                     pretrend_p=study.pretrend_p)


def review_pack_button(ctx: Context, s: ExperimentSettings, result: compare.Effects,
                       trend_kpi: str) -> None:
    """One offline HTML file with the settings, sentences, tables and charts."""
    st.subheader("Share the decision", anchor=False)
    st.caption("The link in the sidebar reopens this exact view. The review pack is one HTML "
               "file that opens in any browser without the app or a network: settings, "
               "results in words, tables and interactive charts, for a meeting or a ticket.")
    # The address is known while the page runs, not when the file is built on click.
    link = link_to({**ctx.params(), **s.params(), "trend": [trend_kpi]}) or "not known"
    st.download_button(
        "Download review pack", data=lambda: review_pack_html(ctx, s, result, trend_kpi, link),
        file_name="experiment_review_pack.html", mime="text/html", key="x_pack",
        icon=":material/download:", on_click="ignore")


def review_pack_html(ctx: Context, s: ExperimentSettings, result: compare.Effects,
                     trend_kpi: str, link: str) -> bytes:
    fb = ctx.feedback.id if ctx.feedback else None
    catalog = s.catalog()
    figs = [("Effects with their 95% intervals", figures.effect_forest_chart(
        figures.forest_rows(result)))]
    series = exp.trend(ctx.path, ctx.events.id, fb, ctx.filters, s, trend_kpi)
    figs.append((f"{catalog[trend_kpi].label} over time", trend_figure(series, s, trend_kpi)))
    warnings = list(result.warnings)
    if s.mode == "did":
        study = exp.event_study_result(ctx.path, ctx.events.id, fb, ctx.filters, s, trend_kpi)
        if study.status == "ok":
            figs.append((f"Pre-trend check: {catalog[trend_kpi].label}",
                         event_figure(study, catalog[trend_kpi])))
            if study.pretrend_warning:
                warnings.append(study.pretrend_warning)
    filters = ctx.filters
    settings = [("Dataset", ctx.events.name),
                ("Dates", f"{filters.start or 'the first event'} to "
                          f"{filters.end or 'the last event'}"),
                *s.describe(), ("Link", link)]
    html = review_pack(
        "Experiment review", subtitle=MODES_TITLE[s.mode], settings=settings,
        findings=sentences(result), warnings=warnings,
        tables=[("Results", _p_as_text(result_table(result, s))),
                (f"{catalog[trend_kpi].label} by month", trend_table(series, catalog[trend_kpi]))],
        figures=figs, notes=[catalog[k].label + ": " + catalog[k].description
                             for k in s.kpis],
        generated=pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC"))
    return html.encode("utf-8")


def _p_as_text(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    for col in ("p-value", "Adjusted p"):
        out[col] = out[col].map(lambda p: "" if p != p else "< 0.001" if p < 0.001
                                else f"{p:.3f}" if p < 0.01 else f"{p:.2f}")
    return out


def trend_table(series: pd.DataFrame, info) -> pd.DataFrame:
    """The monthly values with human labels, rounded to the KPI's decimals."""
    unit = f" ({info.unit.strip()})" if info.unit.strip() else ""
    return pd.DataFrame({
        "Month": pd.to_datetime(series["period"]).dt.strftime("%Y-%m"),
        "Group": series["group"].astype(str), "Customers": series["units"],
        f"{info.label}{unit}": series["value"].round(info.decimals),
        "95% CI from": series["ci_low"].round(info.decimals),
        "95% CI to": series["ci_high"].round(info.decimals)})
