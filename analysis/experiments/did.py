"""Difference-in-differences: plain 2×2, two-way fixed effects, and the per-customer table.

The estimate is the coefficient of ``treated × post`` in an OLS regression (statsmodels), with
heteroskedasticity-robust (HC1) or cluster-robust standard errors. It is causal only under
*parallel trends*: without the change, treated and control would have moved alike. Check
that assumption with :func:`analysis.experiments.event_study.event_study`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats as sps

from analysis.frames import canonical, require_columns, to_lazy
from analysis.results import Status
from analysis.schema import ParameterError, unknown_values_error
from analysis.stats import check_alpha, period_key, period_start

#: Above this many units, unit fixed effects are absorbed by demeaning instead of dummies.
MAX_UNIT_DUMMIES = 300
_NAN = float("nan")
COLLINEAR = "The treated × post effect is collinear with the fixed effects."
NO_CONTROL = (
    "There is no control group, so this is only the before/after change of the treated "
    "group: it is not a causal effect (anything else that changed at the same time is mixed "
    "in). Add untreated rows for a difference-in-differences."
)


@dataclass(frozen=True)
class DiDResult:
    """A difference-in-differences estimate.

    ``estimate`` is the treated × post coefficient (change in the treated group minus change
    in the control group), with ``std_error``, the ``1 - alpha`` interval ``ci_low``/``ci_high``
    and the two-sided ``p_value`` (H0: no effect). ``before_after`` is the plain after − before
    difference of the treated group's mean, which is not causal on its own. ``means`` has one
    row per group (treated/control) × period (before/after): ``group``, ``period``, ``mean``,
    ``n`` (rows). ``model`` is "plain" or "fixed effects".
    """

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_obs: int
    before_after: float
    before_after_ci_low: float
    before_after_ci_high: float
    means: pd.DataFrame
    model: str
    status: Status
    message: str


# --------------------------------------------------------------------------- input


def collect_columns(data: Any, columns: dict[str, str | None], what: str) -> pd.DataFrame:
    """The named columns of ``data`` as pandas, renamed to the keys of ``columns``.

    Only the needed columns leave the engine. Raises :class:`MissingColumnError` listing the
    table's columns when one is missing.
    """
    wanted = {key: col for key, col in columns.items() if col is not None}
    lf = to_lazy(data)
    require_columns(lf, list(dict.fromkeys(wanted.values())), what)
    names = list(dict.fromkeys(wanted.values()))
    frame = lf.select(names).collect().to_pandas()
    return pd.DataFrame({key: frame[col].to_numpy() for key, col in wanted.items()})


def as_flag(values: pd.Series, name: str) -> pd.Series:
    """A boolean or 0/1 column as floats 0.0/1.0 (missing stays NaN)."""
    numeric = pd.to_numeric(values.astype("object").where(values.notna()), errors="coerce")
    bad = values.notna() & ~numeric.isin([0, 1])
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].unique()[:3])
        raise ParameterError(
            f"Column {name!r} must hold true/false or 0/1; it has {examples}.",
            f"Make {name!r} a boolean column (e.g. df[{name!r}] == 'yes').",
        )
    return numeric.astype(float)


def drop_missing(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """``frame`` without rows holding a missing value, and a sentence saying how many went."""
    kept = frame.dropna()
    dropped = len(frame) - len(kept)
    note = f" {dropped:,} rows with missing values were left out." if dropped else ""
    return kept.reset_index(drop=True), note


def robust_fit(model: Any, groups: pd.Series | None) -> Any:
    """Fit with cluster-robust covariance when ``groups`` has two clusters or more, HC1
    otherwise (one cluster has no between-cluster variation to measure)."""
    if groups is not None and groups.nunique() > 1:
        codes = pd.factorize(groups)[0]
        return model.fit(cov_type="cluster", cov_kwds={"groups": codes})
    return model.fit(cov_type="HC1")


def interval(estimate: float, se: float, alpha: float) -> tuple[float, float, float]:
    """Normal ``1 - alpha`` interval and two-sided p-value (statsmodels' robust default)."""
    z = sps.norm.ppf(1 - alpha / 2)
    p = float(2 * sps.norm.sf(abs(estimate / se))) if se > 0 else _NAN
    return float(estimate - z * se), float(estimate + z * se), p


# --------------------------------------------------------------------------- public


def diff_in_diff(
    data: Any,
    *,
    outcome: str,
    treated: str,
    post: str,
    unit: str | None = None,
    time: str | None = None,
    cluster: str | None = None,
    alpha: float = 0.05,
) -> DiDResult:
    """Difference-in-differences estimate of a change's effect on ``outcome``.

    Parameters
    ----------
    data : pandas, Polars, DuckDB or PySpark frame
        One row per observation (e.g. customer × period or segment × period).
    outcome, treated, post : str
        Numeric or boolean outcome (boolean: the estimate is in proportion points); boolean
        or 0/1 flags for the treated group and for rows after the change.
    unit, time : str, optional
        Unit and period columns. When given, their fixed effects replace the ``treated`` and
        ``post`` main effects (two-way fixed effects when both are given).
    cluster : str, optional
        Groups for cluster-robust errors (usually the unit); HC1 robust errors otherwise.
    alpha : float
        Interval level ``1 - alpha``.

    Returns
    -------
    DiDResult
        No control group: only before/after is estimated (DiD fields NaN) and the message
        warns it is not causal. No rows before/after, a constant outcome or too few rows
        give "degenerate"; no rows give "empty".

    Raises
    ------
    MissingColumnError, ParameterError
        A column is missing; ``treated``/``post`` are not boolean or ``alpha`` not in (0, 1).
    """
    alpha = check_alpha(alpha)
    columns = {"y": outcome, "treated": treated, "post": post, "unit": unit, "time": time,
               "cluster": cluster}
    frame, note = _did_frame(data, columns)
    means = _cell_means(frame)
    problem = _problem(frame)
    if problem:
        status: Status = "empty" if frame.empty else "degenerate"
        return _blank(frame, means, status, problem + note)
    groups = frame["cluster"] if cluster else None
    ba = _before_after(frame, groups, alpha)
    if frame["treated"].min() == 1:
        return _blank(frame, means, "ok", NO_CONTROL + note, ba)
    estimate, se = _did_fit(frame, groups)
    if not np.isfinite(se) or se <= 0:
        return _blank(frame, means, "degenerate", COLLINEAR + note, ba)
    low, high, p = interval(estimate, se, alpha)
    model = "fixed effects" if unit or time else "plain"
    return DiDResult(estimate, se, low, high, p, len(frame), *ba, means, model, "ok",
                     note.strip())


# --------------------------------------------------------------------------- pieces


def _did_frame(data: Any, columns: dict[str, str | None]) -> tuple[pd.DataFrame, str]:
    """The needed columns as numbers (flags 0/1), rows with missing values left out."""
    frame = collect_columns(data, columns, "diff_in_diff")
    frame["y"] = pd.to_numeric(frame["y"].astype("object"), errors="coerce").astype(float)
    frame["treated"] = as_flag(frame["treated"], str(columns["treated"]))
    frame["post"] = as_flag(frame["post"], str(columns["post"]))
    return drop_missing(frame)


def _problem(frame: pd.DataFrame) -> str:
    """Why the data cannot give an estimate, or ""."""
    if frame.empty:
        return "No rows to analyse."
    if frame["post"].min() == 1 or frame["post"].max() == 0:
        which = "before" if frame["post"].min() == 1 else "after"
        return f"There are no rows {which} the change, so nothing can be compared."
    if frame["treated"].max() == 0:
        return "There are no treated rows, so there is no effect to estimate."
    treated = frame[frame["treated"] == 1]
    if treated["post"].nunique() < 2:
        return "The treated group has rows on only one side of the change."
    if frame["y"].nunique() < 2:
        return "The outcome does not vary (every row has the same value)."
    if len(frame) < 6:
        return f"Only {len(frame)} rows: too few for a regression with robust errors."
    return ""


def _cell_means(frame: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for t, group in ((1.0, "treated"), (0.0, "control")):
        for p, period in ((0.0, "before"), (1.0, "after")):
            cell = frame.loc[(frame["treated"] == t) & (frame["post"] == p), "y"]
            rows.append({"group": group, "period": period,
                         "mean": float(cell.mean()) if len(cell) else _NAN, "n": len(cell)})
    return pd.DataFrame(rows)


def _before_after(frame: pd.DataFrame, groups: pd.Series | None,
                  alpha: float) -> tuple[float, float, float]:
    """After − before difference of the treated mean, with its robust interval."""
    mask = frame["treated"] == 1
    sub = frame[mask]
    if sub["y"].nunique() < 2 or len(sub) < 3:
        return _NAN, _NAN, _NAN
    model = sm.OLS(sub["y"].to_numpy(), sm.add_constant(sub["post"].to_numpy()))
    fit = robust_fit(model, groups[mask] if groups is not None else None)
    estimate, se = float(fit.params[1]), float(fit.bse[1])
    low, high, _ = interval(estimate, se, alpha)
    return estimate, low, high


def _did_fit(frame: pd.DataFrame, groups: pd.Series | None) -> tuple[float, float]:
    """Coefficient and standard error of treated × post."""
    frame = frame.assign(did=frame["treated"] * frame["post"])
    has_unit = "unit" in frame
    if has_unit and frame["unit"].nunique() > MAX_UNIT_DUMMIES:
        return _absorbed_fit(frame, groups)
    terms = ["did"]
    if has_unit:
        terms.append("C(unit)")
    if not has_unit or _varies_within(frame, "treated", "unit"):
        terms.append("treated")
    if "time" in frame:
        terms.append("C(time)")
    if "time" not in frame or _varies_within(frame, "post", "time"):
        terms.append("post")
    fit = robust_fit(smf.ols("y ~ " + " + ".join(terms), data=frame), groups)
    if np.linalg.matrix_rank(fit.model.exog) < fit.model.exog.shape[1]:
        return float(fit.params["did"]), _NAN
    return float(fit.params["did"]), float(fit.bse["did"])


def _varies_within(frame: pd.DataFrame, column: str, by: str) -> bool:
    return bool((frame.groupby(by)[column].nunique() > 1).any())


def _absorbed_fit(frame: pd.DataFrame, groups: pd.Series | None) -> tuple[float, float]:
    """Unit fixed effects absorbed by demeaning (Frisch–Waugh–Lovell), for many units.

    The coefficient equals the dummy regression's; the robust covariance gets the same
    small-sample factor statsmodels applies to the dummy regression, counting the absorbed
    unit effects as parameters.
    """
    parts = [frame[["did"]]]
    if "time" in frame:
        parts.append(pd.get_dummies(frame["time"], prefix="t", drop_first=True, dtype=float))
    if "time" not in frame or _varies_within(frame, "post", "time"):
        parts.append(frame[["post"]])
    if _varies_within(frame, "treated", "unit"):
        parts.append(frame[["treated"]])
    x = pd.concat(parts, axis=1).astype(float)
    y = frame["y"]
    x_dm = x - x.groupby(frame["unit"]).transform("mean")
    y_dm = y - y.groupby(frame["unit"]).transform("mean")
    n, k = len(frame), x.shape[1] + frame["unit"].nunique()
    model = sm.OLS(y_dm.to_numpy(), x_dm.to_numpy())
    if groups is not None:
        codes = pd.factorize(groups)[0]
        g = len(np.unique(codes))
        fit = model.fit(cov_type="cluster",
                        cov_kwds={"groups": codes, "use_correction": False})
        factor = g / (g - 1) * (n - 1) / (n - k)
    else:
        fit = model.fit(cov_type="HC0")
        factor = n / (n - k)
    return float(fit.params[0]), float(np.sqrt(fit.cov_params()[0, 0] * factor))


def _blank(frame: pd.DataFrame, means: pd.DataFrame, status: Status, message: str,
           before_after: tuple[float, float, float] = (_NAN, _NAN, _NAN)) -> DiDResult:
    return DiDResult(_NAN, _NAN, _NAN, _NAN, _NAN, len(frame), *before_after, means,
                     "plain", status, message)


# --------------------------------------------------------------------------- table


def customer_periods(
    events: Any,
    *,
    conversion: str | list[str],
    change_date: date | datetime,
    treated_column: str,
    treated_values: list[Any] | tuple[Any, ...],
    period: str = "month",
) -> pd.DataFrame:
    """One row per customer, ready for :func:`diff_in_diff`.

    Parameters
    ----------
    events : frame
        Canonical events.
    conversion : str or list of str
        Touchpoint(s) that count as converting.
    change_date : date or datetime
        When the change happened; customers whose first event is on or after it are "post".
    treated_column : str
        Column (e.g. ``region``) that says who was exposed to the change.
    treated_values : list
        Values of ``treated_column`` that mean treated.
    period : {"month", "week"}

    Returns
    -------
    pandas.DataFrame
        ``customer_id``, ``first_seen`` (first event time), ``period`` (its period start),
        ``converted`` (had a conversion touchpoint), ``treated`` (any event has
        ``treated_column`` in ``treated_values``), ``post`` (``first_seen`` ≥ change_date).
    """
    lf = canonical(events)
    require_columns(lf, [treated_column], "customer_periods")
    goals = [conversion] if isinstance(conversion, str) else list(conversion)
    _check_values(lf, "touchpoint", goals, "conversion touchpoint")
    _check_values(lf, treated_column, list(treated_values), f"{treated_column} value")
    start = change_date if isinstance(change_date, datetime) else datetime.combine(
        change_date, datetime.min.time())
    firsts = (
        lf.with_columns(
            nw.col("touchpoint").cast(nw.String).is_in(goals).cast(nw.Int8).alias("_conv"),
            nw.col(treated_column).cast(nw.String).is_in([str(v) for v in treated_values])
            .cast(nw.Int8).alias("_treat"),
        )
        .group_by("customer_id")
        .agg(nw.col("timestamp").min().alias("first_seen"),
             nw.col("_conv").max().alias("converted"), nw.col("_treat").max().alias("treated"))
    )
    per = (
        firsts.with_columns(period_key("first_seen", period, firsts).alias("period"),
                             (nw.col("first_seen") >= nw.lit(start)).alias("post"))
        .sort("customer_id")
        .collect()
        .to_pandas()
    )
    per["period"] = period_start(per["period"], period)
    per["converted"] = per["converted"].astype(int).astype(bool)
    per["treated"] = per["treated"].astype(int).astype(bool)
    per["post"] = per["post"].astype(bool)
    return per[["customer_id", "first_seen", "period", "converted", "treated", "post"]]


def _check_values(lf: nw.LazyFrame, column: str, wanted: list[Any], what: str) -> None:
    present = lf.select(nw.col(column).cast(nw.String)).unique().collect()[column].to_list()
    unknown = [v for v in wanted if str(v) not in present]
    if unknown:
        raise unknown_values_error(what, unknown, [v for v in present if v is not None])
