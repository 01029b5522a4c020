"""The funnel a view opens with before anyone picks steps: the usual path to conversion.

The rule (also in :func:`default_steps`) favours steps most customers really take, so the
default funnel never opens on an empty or one-step state: a touchpoint counts for a customer
when they did it at all before converting (an ordered subsequence, not an exact path), and
the steps are laid out in the order customers usually do them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.definitions import precedence_scores
from analysis.frames import canonical, materialize
from analysis.journeys import MISSING_NODE, check_touchpoints, journeys
from analysis.schema import ParameterError

#: A touchpoint joins the default funnel when at least this share of customers did it.
MIN_SHARE = 0.5


def default_steps(
    events: Any,
    *,
    conversion: Sequence[str] = (),
    stages: Sequence[str] = (),
    step_col: str = "touchpoint",
    max_steps: int = 5,
) -> list[str | list[str]]:
    """The steps a funnel opens with: the usual path to conversion, or the stage order.

    Rule
    ----
    - **On stages** (``step_col="stage"``) with a stage order of two or more stages: its first
      ``max_steps`` stages. Without one, the usual path over the stage column (below).
    - **With conversion touchpoints**: among customers who reach one ("converters"), the
      touchpoints they did before their first conversion event. Those that at least half of
      the converters did (at most ``max_steps - 1``, the most common first; the most common
      one when none reaches half) in their usual order, then the conversion step, which is a
      set (any of them counts) when there are several conversion touchpoints.
    - **Without conversion** (or when no converter did anything before converting): the
      usual path over whole journeys: the steps at least half of the customers did (at most
      ``max_steps``; at least the two most common), in their usual order.

    The usual order: for each pair of chosen steps, among the customers who did both, the
    step most of them did first (first occurrence, in journey order: :mod:`analysis.journeys`)
    wins the pair; steps are ranked by the share of pairs they win, ties by their mean first
    position, then the most customers, then the name.

    Parameters
    ----------
    events
        Events in canonical columns (pandas, Polars, DuckDB or PySpark).
    conversion
        Touchpoints that count as a conversion (ignored on stages); () for none.
    stages
        The stage order, used when ``step_col`` is "stage".
    step_col
        "touchpoint" or "stage": what the funnel's steps are.
    max_steps
        The most steps to return (2 or more).

    Returns
    -------
    list
        Step names; an item is a list when the step is a set (several conversion
        touchpoints). At least two steps when the data has two distinct names, one with one
        name, none with no events.

    Raises
    ------
    ParameterError
        ``max_steps`` below 2, ``conversion`` given as text, or an unknown conversion
        touchpoint (the message lists the data's touchpoints).
    MissingColumnError
        ``step_col`` is not a column of the events.
    """
    _check(conversion, max_steps)
    if step_col == "stage" and len(stages) >= 2:
        return list(stages[:max_steps])
    lf = canonical(events, "events")
    numbered = journeys(lf, node_by=step_col, with_next_timestamp=False)  # type: ignore[arg-type]
    if step_col == "stage":
        numbered = numbered.filter(nw.col("node") != MISSING_NODE)
    conversion = list(dict.fromkeys(conversion)) if step_col == "touchpoint" else []
    if conversion:
        check_touchpoints(lf, conversion, "conversion touchpoint")
        before = _before_conversion(numbered, conversion)
        prefix = _usual_path(before, max_steps - 1, at_least=1)
        if prefix:
            return [*prefix, conversion[0] if len(conversion) == 1 else conversion]
    return list(_usual_path(numbered, max_steps, at_least=2))


def _check(conversion: Sequence[str], max_steps: int) -> None:
    if isinstance(conversion, str):
        raise ParameterError(f"conversion must be a list, got the text {conversion!r}.",
                             f"Write [{conversion!r}].")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int | np.integer) or (
            max_steps < 2):
        raise ParameterError(f"max_steps must be a whole number of at least 2, got "
                             f"{max_steps!r}.", "A funnel needs two steps; 5 is usual.")


def _before_conversion(numbered: nw.LazyFrame, conversion: list[str]) -> nw.LazyFrame:
    """Converters' steps before their first conversion event (conversions left out)."""
    cut = (
        numbered.filter(nw.col("node").is_in(conversion))
        .group_by("customer_id")
        .agg(nw.col("step").min().alias("_cut"))
    )
    return numbered.join(cut, on="customer_id", how="inner").filter(
        nw.col("step") < nw.col("_cut")
    ).select("customer_id", "node", "step")


def _usual_path(rows: nw.LazyFrame, most: int, *, at_least: int) -> list[str]:
    """The steps at least half of the customers in ``rows`` did (at most ``most``, at least
    ``at_least`` when there are that many names), in their usual order."""
    # Read three times below: computed once (the journey window is the costly part).
    firsts = materialize(
        rows.group_by("customer_id", "node").agg(nw.col("step").min().alias("_first"))
    )
    base = firsts.select(nw.col("customer_id").n_unique().alias("n")).collect().item()
    if not base:
        return []
    support = (
        firsts.group_by("node")
        .agg(nw.len().alias("customers"), nw.col("_first").mean().alias("_mean"))
        .collect().to_pandas()
        .sort_values(["customers", "node"], ascending=[False, True], kind="stable")
    )
    common = support[support["customers"] >= MIN_SHARE * base]
    chosen = support.head(max(min(len(common), most), at_least))
    if len(chosen) < 2:
        return chosen["node"].astype(str).tolist()
    names = chosen["node"].astype(str).tolist()
    return _in_usual_order(firsts.filter(nw.col("node").is_in(names)), chosen)


def _in_usual_order(firsts: nw.LazyFrame, chosen: pd.DataFrame) -> list[str]:
    """``chosen`` names ranked by the share of pairwise precedences they win."""
    score = precedence_scores(firsts, "node", chosen["node"])
    info = {str(n): (float(m), -int(c)) for n, m, c in zip(
        chosen["node"], chosen["_mean"], chosen["customers"], strict=True)}
    return sorted(score, key=lambda n: (-score[n], *info[n], n))
