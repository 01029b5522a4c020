"""The time-decay attribution model: each touch of a converting journey weighs
``2 ** (-age / half-life)``, and the journey's conversion is shared by the weights.

The touches are fetched once (:func:`decay_touches`, a few numeric columns); the credit for
any half-life is then a couple of array sums (:func:`time_decay_credit`), so a new half-life
does not follow the journeys again. Used by :mod:`analysis.touchpoints.attribution`.
"""

from __future__ import annotations

import narwhals as nw
import numpy as np
import pandas as pd

from analysis.frames import to_pandas


def decay_touches(touches: nw.LazyFrame | None) -> pd.DataFrame:
    """The touches of the converting journeys, from the touches of
    :func:`analysis.touchpoints.attribution._touches` (None: an empty table).

    Columns: ``_journey`` (a number per journey), ``_key`` (a category) and ``_rel``
    (seconds before the journey's youngest touch).
    """
    if touches is None:
        return pd.DataFrame({"_journey": np.zeros(0, np.int64), "_key": pd.Categorical([]),
                             "_rel": np.zeros(0)})
    # A touch without a time has no age: it weighs nothing (a journey of such touches earns
    # no time-decay credit).
    rows = to_pandas(touches.filter(nw.col("_converted") == 1, ~nw.col("_rel").is_null())
                     .select("customer_id", "_key", "_rel"))
    # Numbers instead of ids: the table stays small enough to keep.
    return pd.DataFrame({"_journey": pd.factorize(rows["customer_id"])[0].astype(np.int64),
                         "_key": rows["_key"].astype("category").array,
                         "_rel": rows["_rel"].to_numpy(dtype=float)})


def time_decay_credit(decay: pd.DataFrame, half_life_days: float) -> pd.Series:
    """Time decay's credit per key: each touch weighs ``2 ** (-age / half-life)``, and each
    converting journey's conversion is shared by its touches' weights."""
    # Ages count from the journey's youngest touch, which scales every weight of the journey
    # alike (normalisation cancels it) and keeps old journeys from underflowing to 0 / 0.
    weight = np.exp(decay["_rel"].to_numpy() * (-np.log(2.0) / (half_life_days * 86_400.0)))
    journey, key = decay["_journey"].to_numpy(), decay["_key"].array
    total = np.bincount(journey, weights=weight)
    share = weight / total[journey] if len(weight) else weight
    credit = np.bincount(key.codes, weights=share, minlength=len(key.categories))
    return pd.Series(credit, index=pd.Index([str(k) for k in key.categories], dtype=object),
                     dtype=float)
