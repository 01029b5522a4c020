"""Event study: the difference-in-differences effect period by period around a change.

Leads (periods before the change) check the parallel-trends assumption behind
:func:`analysis.experiments.did.diff_in_diff`: if the treated group was already drifting away
from the control before the change, the leads differ from zero and the DiD is biased.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis.experiments.did import as_flag, collect_columns, robust_fit
from analysis.results import Status
from analysis.schema import MissingColumnError, ParameterError
from analysis.stats import check_alpha

_NAN = float("nan")
_COLUMNS = ["relative_period", "estimate", "ci_low", "ci_high", "p_value"]


@dataclass(frozen=True)
class EventStudyResult:
    """Effects by period relative to the change.

    ``table``: ``relative_period`` (k = period − change period; k = −1 is the reference,
    estimate 0), ``estimate`` (treated − control difference at k relative to k = −1),
    ``ci_low``, ``ci_high``, ``p_value``. ``pretrend_p``: joint Wald F-test p-value that every
    lead (k ≤ −2) is zero (NaN without leads); ``pretrend_warning``: plain words when
    ``pretrend_p < 0.05``, "" otherwise.
    """

    table: pd.DataFrame
    pretrend_p: float
    pretrend_warning: str
    status: Status
    message: str


def event_study(
    data: Any,
    *,
    outcome: str,
    treated: str,
    time: str,
    change: Any,
    unit: str | None = None,
    cluster: str | None = None,
    leads: int = 4,
    lags: int = 4,
    alpha: float = 0.05,
) -> EventStudyResult:
    """Treated − control differences for each period around a change, with a pre-trend test.

    Regresses ``outcome`` on treated × 1[k] dummies for k in [−leads, lags] except k = −1,
    plus period fixed effects and unit fixed effects (or a treated main effect without
    ``unit``). Treated rows further out than the window are binned into its end points.

    Parameters
    ----------
    data : frame
        One row per observation (unit × period).
    outcome, treated : str
        Numeric or boolean outcome; boolean or 0/1 treated flag.
    time : str
        Integer period index, or dates/timestamps (binned to calendar months).
    change : str or scalar
        The period of the change: a column name (per-row change period, e.g. staggered
        roll-outs) or one value of the same kind as ``time`` (an integer or a date).
    unit, cluster : str, optional
        Unit fixed effects; cluster-robust errors (HC1 without ``cluster``).
    leads, lags : int
        Periods before (≥ 1) and after (≥ 0) the change to estimate.
    alpha : float
        Interval level ``1 - alpha``; the pre-trend warning always uses 0.05.

    Returns
    -------
    EventStudyResult
        "degenerate" without treated or control rows, a constant outcome or no treated rows
        in the window; "empty" without rows.
    """
    alpha = check_alpha(alpha)
    _check_window(leads, lags)
    frame, note = _prepare(data, outcome, treated, time, change, unit, cluster)
    problem = _problem(frame)
    if problem:
        status: Status = "empty" if frame.empty else "degenerate"
        return EventStudyResult(pd.DataFrame(columns=_COLUMNS), _NAN, "", status, problem + note)
    names = _add_dummies(frame, leads, lags)
    if not names:
        return EventStudyResult(pd.DataFrame(columns=_COLUMNS), _NAN, "", "degenerate",
                                "No treated rows fall in the event window." + note)
    terms = [*names.values(), "C(time)", "C(unit)" if unit else "treated"]
    groups = frame["cluster"] if cluster else None
    fit = robust_fit(smf.ols("y ~ " + " + ".join(terms), data=frame), groups)
    table = _table(fit, names, alpha)
    pretrend_p = _pretrend(fit, [n for p, n in names.items() if p < -1])
    return EventStudyResult(table, pretrend_p, _warning(pretrend_p), "ok", note.strip())


def _add_dummies(frame: pd.DataFrame, leads: int, lags: int) -> dict[int, str]:
    """Add the treated × 1[k] columns (window ends binned) to ``frame``; their names by k."""
    k = frame["k"].clip(-leads, lags)
    names: dict[int, str] = {}
    for period in range(-leads, lags + 1):
        dummy = ((frame["treated"] == 1) & (k == period)).astype(float)
        if period != -1 and dummy.any():
            names[period] = f"k_{'m' if period < 0 else 'p'}{abs(period)}"
            frame[names[period]] = dummy
    return names


def _warning(pretrend_p: float) -> str:
    if not pretrend_p < 0.05:
        return ""
    return ("Before the change the treated group was already moving differently from the "
            f"control (pre-trend test p = {pretrend_p:.3f}): the difference-in-differences "
            "may be biased.")


def _check_window(leads: int, lags: int) -> None:
    for name, value, least in (("leads", leads, 1), ("lags", lags, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ParameterError(f"{name} must be a whole number ≥ {least}, got {value!r}.",
                                 "The usual choice is leads=4, lags=4.")


def _prepare(data: Any, outcome: str, treated: str, time: str, change: Any,
             unit: str | None, cluster: str | None) -> tuple[pd.DataFrame, str]:
    """Rows with y, treated (0/1), time (period index), k (time − change) and FE columns."""
    change_col = change if isinstance(change, str) and change != "" else None
    columns = {"y": outcome, "treated": treated, "time": time, "change": change_col,
               "unit": unit, "cluster": cluster}
    try:
        frame = collect_columns(data, columns, "event_study")
    except MissingColumnError:
        if change_col is None:
            raise
        # A string that is not a column is a date ("2025-07-01"), not a column name.
        columns["change"] = None
        frame = collect_columns(data, columns, "event_study")
        change_col = None
    frame["y"] = pd.to_numeric(frame["y"].astype("object"), errors="coerce").astype(float)
    frame["treated"] = as_flag(frame["treated"], treated)
    frame["time"] = _period_index(frame["time"], time)
    change_values = frame["change"] if change_col else pd.Series(change, index=frame.index)
    frame["change"] = _period_index(change_values, "change")
    # Control rows may have no change period; only the other columns must be present.
    required = [c for c in frame.columns if c != "change"]
    kept = frame.dropna(subset=required).reset_index(drop=True)
    dropped = len(frame) - len(kept)
    note = f" {dropped:,} rows with missing values were left out." if dropped else ""
    frame = kept
    frame["k"] = frame["time"] - frame["change"]
    return frame, note


def _period_index(values: pd.Series, name: str) -> pd.Series:
    """Integer periods as they are; dates as months since year 0 (so differences are months)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(float)
    sample = values.dropna()
    if sample.empty:
        return pd.Series(np.nan, index=values.index)
    if isinstance(sample.iloc[0], int | float | np.integer | np.floating):
        return pd.to_numeric(values, errors="coerce").astype(float)
    if isinstance(sample.iloc[0], str | date | pd.Timestamp | np.datetime64):
        stamps = pd.to_datetime(values, errors="coerce")
        return (stamps.dt.year * 12 + stamps.dt.month - 1).astype(float)
    raise ParameterError(f"{name} must hold integer periods or dates.",
                         "Pass a period number (0, 1, 2 …) or a date column.")


def _problem(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "No rows to analyse."
    if frame["treated"].max() == 0 or frame["treated"].min() == 1:
        side = "treated" if frame["treated"].max() == 0 else "control"
        return f"There are no {side} rows; an event study compares treated with control."
    if frame.loc[frame["treated"] == 1, "k"].isna().all():
        return "The treated rows have no change period."
    if frame["y"].nunique() < 2:
        return "The outcome does not vary (every row has the same value)."
    return ""


def _table(fit: Any, names: dict[int, str], alpha: float) -> pd.DataFrame:
    ci = fit.conf_int(alpha=alpha)
    rows = [{"relative_period": -1, "estimate": 0.0, "ci_low": 0.0, "ci_high": 0.0,
             "p_value": _NAN}]
    for period, name in names.items():
        rows.append({"relative_period": period, "estimate": float(fit.params[name]),
                     "ci_low": float(ci.loc[name, 0]), "ci_high": float(ci.loc[name, 1]),
                     "p_value": float(fit.pvalues[name])})
    return pd.DataFrame(rows, columns=_COLUMNS).sort_values("relative_period",
                                                            ignore_index=True)


def _pretrend(fit: Any, lead_names: list[str]) -> float:
    """Joint Wald F-test p-value that all lead coefficients are zero (robust covariance)."""
    if not lead_names:
        return _NAN
    params = list(fit.params.index)
    restriction = np.zeros((len(lead_names), len(params)))
    for row, name in enumerate(lead_names):
        restriction[row, params.index(name)] = 1.0
    return float(fit.f_test(restriction).pvalue)
