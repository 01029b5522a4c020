"""Following customers through a funnel's steps in numpy, over the steps' events fetched once.

:func:`step_events` reads, once, the events of the steps' names (a few columns, every
customer's in journey order); :func:`step_times_from_events` follows each customer through
the steps from that table, in any mode and window, with array operations over it (one pass
per step). A view that changes only the mode or the window (the Funnels page's "Order" and
"Window") then does not read the events again. The rules are those of
:mod:`analysis.funnel.core`, whose engine plans :func:`analysis.funnel.customer_steps` follow
for the other views; the tests check that both give the same times.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from analysis.frames import canonical, naive_utc, to_pandas
from analysis.funnel.core import Mode, Steps, check_funnel, check_options, step_rows, step_sets

#: The columns of :func:`step_events`.
EVENT_COLUMNS = ["_customer", "_full", "timestamp", "_name", "_group"]


def step_events(
    events: Any,
    steps: Steps,
    *,
    by: str | None = None,
    step_col: str = "touchpoint",
) -> pd.DataFrame:
    """The events of a funnel's step names, one row each, every customer's in journey order.

    Parameters are those of :func:`analysis.funnel.funnel` (the mode and window are applied
    later, by :func:`step_times_from_events`).

    Returns
    -------
    DataFrame with ``_customer`` (a number per customer; each customer's rows are
    consecutive), ``_full`` (the event's 1-based position among all the customer's events
    with a touchpoint, so a gap is another event), ``timestamp``, ``_name`` (the step name,
    a category) and ``_group`` (the ``by`` value, "(none)" when missing; "all" without
    ``by``; a category). Customer ids are left out: the funnels do not need them.

    Raises
    ------
    ParameterError
        An unknown step name or column (see :func:`analysis.funnel.funnel`).
    """
    sets = step_sets(steps)
    lf = canonical(events, "events")
    check_funnel(lf, sets, window=None, by=by, mode="ordered", step_col=step_col)
    rows = step_rows(lf, sets, by=by, step_col=step_col, full_positions=True)
    keep = ["customer_id", "_full", "timestamp", "_name", *(["_group"] if by else [])]
    raw = to_pandas(rows.select(*keep))
    # An event without a time cannot be ordered against a step's time (the engine's minimum
    # skips it too); dropped after the full positions are numbered, so it still breaks a
    # strict run.
    raw = raw[raw["timestamp"].notna()]
    customer = pd.factorize(raw["customer_id"])[0].astype(np.int64)
    full = raw["_full"].to_numpy(dtype=np.int64)
    if not _in_journey_order(customer, full):
        order = np.lexsort((full, customer))
        raw, customer, full = raw.iloc[order], customer[order], full[order]
    timestamp = raw["timestamp"]
    if timestamp.dtype != "datetime64[us]":
        timestamp = naive_utc(timestamp)
    return pd.DataFrame({
        "_customer": customer, "_full": full, "timestamp": timestamp.to_numpy(),
        "_name": raw["_name"].astype("category").array,
        "_group": (raw["_group"].astype("category").array if by
                   else pd.Categorical.from_codes(np.zeros(len(raw), np.int8), ["all"])),
    }, columns=EVENT_COLUMNS)


def _in_journey_order(customer: np.ndarray, full: np.ndarray) -> bool:
    """Whether each customer's rows are consecutive and rise in position (engines usually
    return them so, as stored: then there is nothing to sort)."""
    if len(customer) < 2:
        return True
    step, rise = np.diff(customer), np.diff(full)
    # pd.factorize numbers customers in order of appearance: runs rise by exactly one.
    return bool(np.all((step == 1) | ((step == 0) & (rise > 0))))


def step_times_from_events(
    step_events: pd.DataFrame,
    steps: Steps,
    *,
    window: timedelta | None = None,
    mode: Mode = "ordered",
) -> pd.DataFrame:
    """:func:`analysis.funnel.step_times` from :func:`step_events` computed with the same
    steps (and the ``by`` wanted): the same table, for any mode and window."""
    sets = step_sets(steps)
    check_options(sets, window=window, mode=mode)
    walk = _Walk(step_events, sets)
    runner = {"ordered": walk.ordered, "strict": walk.strict, "any_order": walk.any_order}[mode]
    limit = None if window is None else np.timedelta64(window // timedelta(microseconds=1), "us")
    times = runner(limit)
    return pd.DataFrame({"_group": walk.groups(),
                         **{f"_t{i}": column for i, column in enumerate(times)}})


class _Walk:
    """The arrays of a step-events table, and where each customer's step 1 is: the first
    event of a step-1 name (the "anchor"); customers without one are not in the funnel."""

    def __init__(self, table: pd.DataFrame, sets: list[tuple[str, ...]]) -> None:
        self.sets = sets
        self.customer = table["_customer"].to_numpy()
        self.full = table["_full"].to_numpy()
        self.time = table["timestamp"].to_numpy()
        self.group = table["_group"].array
        names = table["_name"].array
        self.codes = np.asarray(names.codes)
        self.set_codes = [[int(c) for c in names.categories.get_indexer(list(step)) if c >= 0]
                          for step in sets]
        # Rows are in journey order within each customer: the first step-1 row of each.
        rows = np.flatnonzero(self.member(0))
        first = self.customer[rows]
        self.anchor = rows[np.r_[True, first[1:] != first[:-1]]] if len(rows) else rows

    def member(self, i: int, rows: Any = slice(None)) -> np.ndarray:
        """Whether each row (of ``rows``) is an event of step ``i``."""
        codes = self.codes[rows]
        out = np.zeros(len(codes), dtype=bool)
        for code in self.set_codes[i]:  # a few names: faster than np.isin's sort
            out |= codes == code
        return out

    def next_in(self, i: int) -> np.ndarray:
        """For each row (and one past the end), the first row at or after it that is an
        event of step ``i``; ``len`` when there is none."""
        n = len(self.customer)
        rows = np.where(self.member(i), np.arange(n), n)
        return np.minimum.accumulate(np.r_[rows, n][::-1])[::-1]

    def groups(self) -> pd.Categorical:
        """Each funnel customer's group: the one on their step-1 event."""
        return self.group.take(self.anchor).remove_unused_categories()

    def _nat(self) -> np.ndarray:
        return np.full(len(self.anchor), np.datetime64("NaT"), dtype=self.time.dtype)

    def ordered(self, limit: np.timedelta64 | None) -> list[np.ndarray]:
        """Step k: the customer's first step-k event after the one that counted for k-1."""
        at, alive = self.anchor.copy(), np.ones(len(self.anchor), dtype=bool)
        start = self.time[self.anchor]
        times = [start.copy()]
        for i in range(1, len(self.sets)):
            nxt = self.next_in(i)[at + 1]
            ok = alive & (nxt < len(self.customer))
            ok[ok] = self.customer[nxt[ok]] == self.customer[at[ok]]
            if limit is not None:
                # Times rise along the journey: when the earliest candidate is too late,
                # every later one is too.
                ok[ok] = self.time[nxt[ok]] <= start[ok] + limit
            reached = self._nat()
            reached[ok] = self.time[nxt[ok]]
            times.append(reached)
            at, alive = np.where(ok, nxt, at), ok
        return times

    def strict(self, limit: np.timedelta64 | None) -> list[np.ndarray]:
        """Step k: the event k positions after the anchor (no other event between), while
        every step before it matched."""
        n, start = len(self.customer), self.time[self.anchor]
        alive, times = np.ones(len(self.anchor), dtype=bool), [start.copy()]
        for i in range(1, len(self.sets)):
            row = self.anchor + i
            ok = alive & (row < n)
            ok[ok] = ((self.customer[row[ok]] == self.customer[self.anchor[ok]])
                      & (self.full[row[ok]] == self.full[self.anchor[ok]] + i)
                      & self.member(i, row[ok]))
            if limit is not None:
                ok[ok] = self.time[row[ok]] <= start[ok] + limit
            reached = self._nat()
            reached[ok] = self.time[row[ok]]
            times.append(reached)
            alive = ok
        return times

    def any_order(self, limit: np.timedelta64 | None) -> list[np.ndarray]:
        """Step k: steps 1..k each done with an event of its own (a repeated step takes the
        step's next event), at the time the last of them was done."""
        n_customers = int(self.customer[-1]) + 1 if len(self.customer) else 0
        slot = np.full(n_customers, -1, dtype=np.int64)
        slot[self.customer[self.anchor]] = np.arange(len(self.anchor))
        done, times = [], []
        for i, names in enumerate(self.sets):
            done.append(self._nth_event(slot, i, self.sets[:i].count(names)))
            stacked = np.stack(done)
            complete = ~np.isnat(stacked).any(axis=0)
            last = self._nat()
            last[complete] = stacked[:, complete].max(axis=0)
            if limit is not None:
                complete[complete] = last[complete] <= stacked[:, complete].min(axis=0) + limit
                last[~complete] = np.datetime64("NaT")
            times.append(last)
        return times

    def _nth_event(self, slot: np.ndarray, i: int, nth: int) -> np.ndarray:
        """Each funnel customer's time of their ``nth`` (0-based) event of step ``i``'s names
        (``slot``: each customer's place among the funnel's customers, -1 when not in it)."""
        rows = np.flatnonzero(self.member(i))
        customer = self.customer[rows]
        first = np.r_[True, customer[1:] != customer[:-1]] if len(rows) else np.zeros(0, bool)
        places = np.arange(len(rows))
        rank = places - np.maximum.accumulate(np.where(first, places, 0))
        chosen = rows[rank == nth]
        where = slot[self.customer[chosen]]
        out = self._nat()
        out[where[where >= 0]] = self.time[chosen[where >= 0]]
        return out
