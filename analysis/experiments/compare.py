"""Effects of an A/B test or a change on several KPIs at once, in one table with display units.

Three designs over the per-customer table of :func:`~analysis.experiments.kpis.customer_kpis`:

* ``"ab"``: every variant against the control (:func:`~analysis.experiments.ab_test`).
* ``"before_after"``: customers who started after the change against those who started
  before, with the same tests; not causal (anything else that changed is in the estimate).
* ``"did"``: difference-in-differences of a treated group against a control group around
  the change (:func:`~analysis.experiments.diff_in_diff`), per customer with period fixed
  effects, or on segment × period cell means with two-way fixed effects.

Every p-value shown is adjusted together (Holm or Benjamini–Hochberg) over all KPIs,
variants and segments in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

import numpy as np
import pandas as pd

from analysis.experiments.abtest import ab_test
from analysis.experiments.did import diff_in_diff
from analysis.experiments.kpis import KPI, split_at
from analysis.results import Status
from analysis.stats import adjust_p_values, check_correction

Mode = Literal["ab", "before_after", "did"]
MODES: tuple[str, ...] = ("ab", "before_after", "did")
Aggregation = Literal["customers", "cells"]
BEFORE, AFTER = "Before", "After"
TREATED, CONTROL = "Treated", "Control"
ALL = "All customers"
#: Segment × period DiD with fewer clusters than this gets a warning about its errors.
FEW_CLUSTERS = 10
EFFECT_COLUMNS = (
    "kpi", "label", "segment", "comparison", "value_a", "value_b", "units_a", "units_b",
    "difference", "ci_low", "ci_high", "relative_lift", "lift_ci_low", "lift_ci_high",
    "p_value", "p_adjusted", "test", "mde", "note", "unit", "higher_is_better",
)


@dataclass(frozen=True)
class Effects:
    """Effects of one design on several KPIs.

    ``table``: one row per (segment, KPI, comparison), in EFFECT_COLUMNS. Values, differences,
    intervals and MDEs are in each KPI's display unit (percentage points for rates);
    ``value_a``/``units_a`` are the control (or "before") side, ``value_b``/``units_b`` the
    variant (or "after"; for DiD the treated group after the change). ``relative_lift`` is a
    share (0.05 = +5%). ``srm_p``/``srm``: sample-ratio check of the A/B split (NaN otherwise);
    ``cuped_reduction``: variance reduction achieved per KPI; ``warnings``: plain-words
    cautions to show next to the result.
    """

    table: pd.DataFrame
    mode: Mode
    srm_p: float = np.nan
    srm: bool = False
    cuped_reduction: dict[str, float] = field(default_factory=dict)
    unassigned: int = 0
    warnings: tuple[str, ...] = ()
    status: Status = "ok"
    message: str = ""


def ab_effects(units: pd.DataFrame, kpis: Sequence[str], catalog: dict[str, KPI], *,
               variant: str, control: str | None = None, correction: str = "holm",
               segment: str | None = None, pre: pd.DataFrame | None = None,
               winsorize: float | None = None, rank_test: bool = False) -> Effects:
    """Every variant against the control on each KPI (per segment when ``segment`` is given).

    ``pre``: the same customers' KPIs before the experiment (``customer_id`` + KPI columns),
    used for CUPED on mean KPIs; customers without a pre-period value get the mean of the
    others (which leaves their value unadjusted, and the estimate unbiased).
    """
    check_correction(correction)
    data, cuped = _with_pre(units, kpis, pre)
    parts, reduction, srm_p, unassigned = [], {}, np.nan, 0
    others: list[str] = []
    for seg, part in _segments(data, segment):
        present = {str(v) for v in part[variant].dropna().unique()}
        if seg != ALL and (control not in present or len(present) < 2):
            parts.append(_untested(kpis, others, seg, control, present))
            continue
        result = ab_test(part, variant=variant, metrics=list(kpis), control=control,
                         correction=correction, cuped=cuped or None, winsorize=winsorize,
                         rank_test=rank_test)
        if seg == ALL:
            others = sorted(set(result.table["variant"].astype(str)))
            srm_p, unassigned, reduction = result.srm_p, result.unassigned, \
                result.cuped_reduction
            control = result.control
        table = result.table.assign(segment=seg)
        table["comparison"] = table["variant"].astype(str) + " vs " + str(result.control)
        parts.append(table)
    table = _display(pd.concat(parts, ignore_index=True), catalog, correction)
    srm = bool(srm_p < 0.01)
    warnings = ((f"Sample-ratio mismatch: the split between variants is unlikely under the "
                 f"planned allocation (chi-square p = {srm_p:.2g}). Assignment or tracking "
                 "is probably broken; do not trust these results until it is explained.",)
                if srm else ())
    return Effects(table, "ab", srm_p, srm, reduction, unassigned, warnings,
                   *_status(table))


def before_after_effects(units: pd.DataFrame, kpis: Sequence[str], catalog: dict[str, KPI], *,
                         change: datetime, correction: str = "holm",
                         segment: str | None = None) -> Effects:
    """Customers who started on or after ``change`` against those who started before."""
    check_correction(correction)
    data = units.assign(_side=np.where(split_at(units, change), AFTER, BEFORE))
    parts = []
    for seg, part in _segments(data, segment):
        result = ab_test(part, variant="_side", metrics=list(kpis), control=BEFORE,
                         correction=correction) if part["_side"].nunique() == 2 else None
        if result is None:
            continue
        parts.append(result.table.assign(segment=seg, comparison=f"{AFTER} vs {BEFORE}"))
    if not parts:
        return Effects(pd.DataFrame(columns=EFFECT_COLUMNS), "before_after",
                       status="degenerate", message="There are customers on only one side "
                       "of the change date: pick a date inside the data's range.")
    table = _display(pd.concat(parts, ignore_index=True), catalog, correction)
    warning = ("A before/after difference is not a causal effect: anything else that changed "
               "at the same time (season, prices, marketing, who the customers are) is in "
               "it, and customers who started after it have had less time to convert, buy "
               "again or churn (count everyone's first N days to even that out). Compare "
               "with a control group that did not get the change to separate them.")
    status, message = _status(table)
    return Effects(table, "before_after", warnings=(warning,), status=status, message=message)


def did_effects(units: pd.DataFrame, kpis: Sequence[str], catalog: dict[str, KPI], *,
                treated: pd.Series, change: datetime, correction: str = "holm",
                segment: str | None = None, aggregation: Aggregation = "customers",
                cell: str | None = None) -> Effects:
    """Difference-in-differences of the ``treated`` customers against the others.

    ``treated``: a boolean per row of ``units`` (None/NaN: neither group, left out).
    ``aggregation="customers"``: one row per customer, placed in the period of their first
    event, with period fixed effects and HC1 errors. ``"cells"``: mean KPI per (``cell``
    value, period), two-way fixed effects, errors clustered by ``cell``.
    """
    check_correction(correction)
    data = units.assign(_treated=treated.astype(float), _post=split_at(units, change))
    left_out = int(data["_treated"].isna().sum())
    data = data[data["_treated"].notna()]
    rows, warnings = [], []
    if left_out:
        warnings.append(f"{left_out:,} customers have no value, or more than one, in the "
                        "column that says who got the change; they are in neither group.")
    for seg, part in _segments(data, segment):
        for kpi in kpis:
            rows.append({"segment": seg, "metric": kpi,
                         **_did_row(part, kpi, aggregation, cell, warnings)})
    table = pd.DataFrame(rows)
    table["comparison"] = f"{TREATED} vs {CONTROL}"
    table = _display(table, catalog, correction)
    status, message = _status(table)
    return Effects(table, "did", warnings=tuple(dict.fromkeys(warnings)), status=status,
                   message=message)


def _did_row(part: pd.DataFrame, kpi: str, aggregation: Aggregation, cell: str | None,
             warnings: list[str]) -> dict:
    treated_after = part.loc[(part["_treated"] == 1) & part["_post"], kpi].dropna()
    treated_before = part.loc[(part["_treated"] == 1) & ~part["_post"], kpi].dropna()
    if aggregation == "cells" and cell:
        panel = cell_panel(part, kpi, cell)
        result = diff_in_diff(panel, outcome="y", treated="treated", post="post", unit="unit",
                              time="period", cluster="unit")
        clusters = panel["unit"].nunique()
        if clusters < FEW_CLUSTERS:
            warnings.append(f"Only {clusters} {cell} values to cluster on: cluster-robust "
                            "errors need many clusters, so the intervals are too narrow. "
                            "Prefer the per-customer aggregation.")
        test = "DiD, two-way fixed effects (clustered)"
    else:
        result = diff_in_diff(part, outcome=kpi, treated="_treated", post="_post",
                              time="period")
        test = "DiD, period fixed effects (HC1)"
    row = {"value": treated_after.mean(), "units": len(treated_after),
           "control_value": treated_before.mean(), "control_units": len(treated_before),
           "difference": result.estimate, "ci_low": result.ci_low, "ci_high": result.ci_high,
           "p_value": result.p_value, "test": test, "mde": np.nan,
           "note": "" if result.status == "ok" else f"Not estimated: {result.message}"}
    before = float(treated_before.mean()) if len(treated_before) else np.nan
    if before and np.isfinite(before) and np.isfinite(result.estimate):
        row.update(relative_lift=result.estimate / before,
                   lift_ci_low=result.ci_low / before, lift_ci_high=result.ci_high / before)
    return row


def cell_panel(units: pd.DataFrame, kpi: str, cell: str) -> pd.DataFrame:
    """Mean ``kpi`` per (``cell`` value, period, before/after) with the cell's treated flag;
    the month of the change splits into its days before and after it."""
    rows = units.dropna(subset=[kpi, cell])
    panel = (rows.groupby([cell, "period", "_post"], observed=True)
             .agg(y=(kpi, "mean"), n=(kpi, "size"), treated=("_treated", "max"))
             .reset_index().rename(columns={cell: "unit", "_post": "post"}))
    # One time per (period, side), so the change month's two halves get their own effects.
    panel["period"] = panel["period"].astype(str) + np.where(panel["post"], "+", "-")
    return panel


# --------------------------------------------------------------------------- pieces


def _untested(kpis: Sequence[str], variants: list[str], segment: str, control: str | None,
              present: set[str]) -> pd.DataFrame:
    """Rows saying why a segment could not be tested (instead of leaving it out)."""
    why = (f"Not tested: no {control} (control) customers in this segment."
           if control not in present else "Not tested: only one variant in this segment.")
    rows = [{"metric": k, "variant": v, "units": 0, "control_units": 0, "test": "",
             "note": why, "segment": segment, "comparison": f"{v} vs {control}"}
            for k in kpis for v in variants or ["(variant)"]]
    return pd.DataFrame(rows)


def _segments(data: pd.DataFrame, segment: str | None):
    yield ALL, data
    if segment:
        for value, part in data.groupby(data[segment].astype("string"), sort=True):
            yield str(value), part


def _with_pre(units: pd.DataFrame, kpis: Sequence[str],
              pre: pd.DataFrame | None) -> tuple[pd.DataFrame, dict[str, str]]:
    if pre is None:
        return units, {}
    usable = [k for k in kpis if k in pre and pre[k].notna().sum() > 1]
    before = pre[["customer_id", *usable]].rename(columns={k: f"_pre_{k}" for k in usable})
    data = units.merge(before, on="customer_id", how="left")
    for k in usable:
        data[f"_pre_{k}"] = data[f"_pre_{k}"].fillna(data[f"_pre_{k}"].mean())
    return data, {k: f"_pre_{k}" for k in usable}


def _display(raw: pd.DataFrame, catalog: dict[str, KPI], correction: str) -> pd.DataFrame:
    """The analysis rows in display units, with p-values adjusted over the whole table."""
    out = pd.DataFrame({
        "kpi": raw["metric"], "segment": raw["segment"], "comparison": raw["comparison"]})
    scale = raw["metric"].map(lambda k: catalog[k].scale).astype(float)
    out["label"] = raw["metric"].map(lambda k: catalog[k].label)
    for a, b in (("value_a", "control_value"), ("value_b", "value"), ("difference", "difference"),
                 ("ci_low", "ci_low"), ("ci_high", "ci_high"), ("mde", "mde")):
        out[a] = pd.to_numeric(raw.get(b), errors="coerce").astype(float) * scale
    out["units_a"], out["units_b"] = raw["control_units"], raw["units"]
    for col in ("relative_lift", "lift_ci_low", "lift_ci_high", "p_value"):
        out[col] = pd.to_numeric(raw.get(col), errors="coerce").astype(float)
    # A relative change of a score that crosses zero (NPS: −100 to 100) means nothing.
    crosses = raw["metric"].map(lambda k: catalog[k].key == "nps").to_numpy()
    out.loc[crosses, ["relative_lift", "lift_ci_low", "lift_ci_high"]] = np.nan
    out["p_adjusted"] = adjust_p_values(out["p_value"].to_numpy(), correction)
    out["test"], out["note"] = raw["test"], raw["note"].fillna("")
    out["unit"] = raw["metric"].map(lambda k: catalog[k].diff_unit)
    out["higher_is_better"] = raw["metric"].map(lambda k: catalog[k].higher_is_better)
    return out[list(EFFECT_COLUMNS)].reset_index(drop=True)


def with_correction(effects: Effects, correction: str) -> Effects:
    """``effects`` with ``p_adjusted`` recomputed for another correction over the whole table
    (the same adjustment the ``*_effects`` functions make; nothing else depends on it)."""
    check_correction(correction)
    table = effects.table.assign(
        p_adjusted=adjust_p_values(effects.table["p_value"].to_numpy(dtype=float), correction))
    return replace(effects, table=table)


def _status(table: pd.DataFrame) -> tuple[Status, str]:
    if table.empty:
        return "empty", "Nothing to compare."
    notes = [f"{r.label} ({r.segment}, {r.comparison}): {r.note}"
             for r in table.itertuples() if r.note]
    return ("degenerate", " ".join(notes)) if notes else ("ok", "")


def treated_flag(values: pd.Series, treated: Sequence[str]) -> pd.Series:
    """True for customers whose value is one of ``treated``, False for the others (the control
    group), None for customers with no value (or several: the KPI table's None)."""
    return values.astype("string").isin([str(t) for t in treated]).astype(object).where(
        values.notna(), None)
