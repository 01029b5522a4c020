"""Experiment results in plain words: one sentence per KPI, for the page and the review pack."""

from __future__ import annotations

import math

import pandas as pd

from analysis.survival.words import p_text

ALPHA = 0.05
_SUBJECT = {
    "ab": "for {variant} relative to {control}",
    "before_after": "after the change relative to before",
    "did": "for the treated group relative to control",
}


def number(value: float, decimals: int = 1, *, signed: bool = False) -> str:
    """A number with a real minus sign ("−2.1"), "+" when ``signed`` and positive."""
    if value is None or not math.isfinite(value):
        return "n/a"
    text = f"{abs(value):,.{decimals}f}"
    if value < 0 and text.strip("0.,"):
        return "−" + text
    return ("+" + text) if signed and value > 0 else text


def effect_sentence(row: pd.Series | dict, mode: str, *, decimals: int = 1,
                    alpha: float = ALPHA) -> str:
    """One row of an effects table in a sentence.

    "Conversion rose 4.1 pp (95% CI 2.8 to 5.4) for the treated group relative to control;
    p < 0.001." When the interval includes zero: "No clear change in NPS for B relative to A:
    +1.2 pts (95% CI −3.0 to 5.4); p = 0.58." Adjusted p-values are quoted when several tests
    were run. A row that could not be tested gives its note.
    """
    row = dict(row)
    label, unit = str(row["label"]), str(row.get("unit") or "")
    variant, control = _sides(str(row.get("comparison", "")))
    subject = _SUBJECT.get(mode, _SUBJECT["ab"]).format(variant=variant, control=control)
    segment = str(row.get("segment") or "")
    if segment and segment != "All customers":
        subject += f" among {segment}"
    diff = row.get("difference")
    if diff is None or not math.isfinite(float(diff)) or not math.isfinite(
            float(row.get("p_value", float("nan")))):
        note = str(row.get("note") or "").strip() or "Not enough data to test."
        return f"{label} {subject}: {note}"
    level = round((1 - alpha) * 100)
    interval = (f"({level}% CI {number(row['ci_low'], decimals)} to "
                f"{number(row['ci_high'], decimals)}{unit})")
    p = _p_part(float(row["p_value"]), row.get("p_adjusted"))
    adjusted = float(row.get("p_adjusted", float("nan")))
    # Clear only when the interval excludes 0 and the p-value adjusted for every test shown
    # is significant: one of many tests crossing 0.05 on its own is not a finding.
    clear = (row["ci_low"] > 0 or row["ci_high"] < 0) and not adjusted >= alpha
    if not clear:
        return (f"No clear change in {label} {subject}: {number(diff, decimals, signed=True)}"
                f"{unit} {interval}; {p}.")
    verb = "rose" if diff > 0 else "fell"
    return f"{label} {verb} {number(abs(diff), decimals)}{unit} {interval} {subject}; {p}."


def _sides(comparison: str) -> tuple[str, str]:
    variant, _, control = comparison.partition(" vs ")
    return variant or "the variant", control or "the control"


def _p_part(p: float, adjusted: float | None) -> str:
    text = p_text(p)
    if adjusted is not None and math.isfinite(float(adjusted)) and float(adjusted) > p * 1.0001:
        text += f" ({p_text(float(adjusted)).replace('p', 'adjusted p', 1)})"
    return text


def lift_text(lift: float) -> str:
    """A relative lift as "+4.1%" (n/a when the control value is 0)."""
    if lift is None or not math.isfinite(lift):
        return "n/a"
    return number(lift * 100, 1, signed=True) + "%"


def verdict(row: pd.Series | dict) -> str:
    """"Better", "Worse" or "Unclear" given the KPI's good direction (unclear when the
    adjusted p-value is not significant)."""
    row = dict(row)
    low, high = float(row.get("ci_low", float("nan"))), float(row.get("ci_high", float("nan")))
    adjusted = float(row.get("p_adjusted", float("nan")))
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 <= high or adjusted >= ALPHA:
        return "Unclear"
    up = low > 0
    return "Better" if up == bool(row.get("higher_is_better", True)) else "Worse"
