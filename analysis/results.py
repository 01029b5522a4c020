"""The shared result vocabulary: status, coverage and estimates.

A function named after a table returns that table; anything richer returns a frozen dataclass
of named tables and values with a ``status`` and a ``message`` (plain words, "" when ok).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "degenerate", "empty"]
STATUSES: tuple[str, ...] = ("ok", "degenerate", "empty")
OTHER = "Other"


@dataclass(frozen=True)
class Coverage:
    """What share of the filtered data a result represents.

    ``customers``/``events``: how many the result covers; ``*_total``: how many passed the
    filters; ``folded_share``: share of the covered customer-steps shown as "Other";
    ``folded``: how many customer-steps that is (0 when not counted).
    """

    customers: int
    customers_total: int
    events: int
    events_total: int
    folded_share: float = 0.0
    folded: int = 0

    @property
    def customer_share(self) -> float:
        return self.customers / self.customers_total if self.customers_total else 0.0

    @property
    def event_share(self) -> float:
        return self.events / self.events_total if self.events_total else 0.0

    def sentence(self) -> str:
        text = (
            f"Covers {self.customers:,} of {self.customers_total:,} customers "
            f"({percent(self.customer_share)}) and {self.events:,} of {self.events_total:,} "
            f"events ({percent(self.event_share)}) after filters"
        )
        if self.folded:
            text += (f"; {self.folded:,} customer-steps ({percent(self.folded_share)}) are "
                     f"folded into “{OTHER}”")
        elif self.folded_share:
            text += (f"; {percent(self.folded_share)} of customer-steps are folded into "
                     f"“{OTHER}”")
        return text + "."


def percent(share: float) -> str:
    """A share as a whole percentage that never reads 0% or 100% when it is not: "<1%",
    ">99%"."""
    if 0 < share < 0.01:
        return "<1%"
    if 0.99 < share < 1:
        return ">99%"
    return f"{share:.0%}"


@dataclass(frozen=True)
class Estimate:
    """A value with its confidence interval and the number of units behind it.

    ``ci_low``/``ci_high`` are NaN when no interval can be given (n too small).
    """

    value: float
    ci_low: float
    ci_high: float
    n: int
    level: float = 0.95


def status_of(rows: int, *, degenerate: bool = False) -> Status:
    """"empty" with no rows, "degenerate" when flagged, else "ok"."""
    if rows == 0:
        return "empty"
    return "degenerate" if degenerate else "ok"
