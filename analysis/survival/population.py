"""Whose lifetime is measured, and from when: the clock can start at a customer's first event
or at their first conversion (a subscription starts at the purchase, not at the first ad)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import narwhals as nw

from analysis.frames import canonical
from analysis.journeys import check_touchpoints, order_columns, with_order_key
from analysis.precompute import without_precomputed

_KEY = "_start_key"


def from_first(events: Any, touchpoints: Sequence[str]) -> nw.LazyFrame:
    """Each customer's events from their first of ``touchpoints`` on, in journey order.

    Customers who never had one of them are left out; events before it (and events at the
    same time that came earlier in the file) are dropped, so a lifetime computed on the result
    starts at that touchpoint.

    Raises
    ------
    UnknownValueError
        A touchpoint the data does not have.
    """
    names = [touchpoints] if isinstance(touchpoints, str) else [str(t) for t in touchpoints]
    lf = canonical(events, "events")
    check_touchpoints(lf, names)
    # Dropping a customer's first events renumbers their journey: precomputed columns go.
    lf = without_precomputed(lf)
    columns = lf.collect_schema().names()
    keyed = with_order_key(lf, order_columns(columns), _KEY)
    starts = (keyed.filter(nw.col("touchpoint").cast(nw.String).is_in(names))
              .group_by("customer_id").agg(nw.col(_KEY).min().alias("_start")))
    return (keyed.join(starts, on="customer_id", how="inner")
            .filter(nw.col(_KEY) >= nw.col("_start"))
            .select(columns))
