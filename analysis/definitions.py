"""What counts as conversion and churn when the user has not said: guessed from names.

Every view (and Home) uses these guesses, so one dataset gets one definition. They live below
every view so that no analysis imports another view's module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import narwhals as nw

CONVERSION_PATTERN = re.compile(
    r"purchase|order (placed|completed|confirmed)|\bbuy\b|bought|checkout (complete|success)"
    r"|subscribed|sign ?up|conver(sion|ted)|payment (succeeded|success)",
    re.IGNORECASE,
)
CHURN_PATTERN = re.compile(
    r"cancel|churn|unsubscri|close[ds]? account|account closed|terminat", re.IGNORECASE
)


def conversion_touchpoints(touchpoints: Iterable[str]) -> list[str]:
    """Touchpoints whose names read as a conversion (purchase, order placed, sign-up…)."""
    return [t for t in touchpoints if CONVERSION_PATTERN.search(str(t))]


def churn_touchpoints(touchpoints: Iterable[str]) -> list[str]:
    """Touchpoints whose names read as churn (cancel, unsubscribe, close account…)."""
    return [t for t in touchpoints if CHURN_PATTERN.search(str(t))]


def present_touchpoints(lf: nw.LazyFrame) -> list[str]:
    """The distinct touchpoints of an events frame, sorted."""
    values = lf.select(nw.col("touchpoint").cast(nw.String)).unique().collect().to_pandas()
    return sorted(values["touchpoint"].dropna().tolist())


def resolve(
    given: Sequence[str] | None, guess, present: Sequence[str]
) -> tuple[str, ...]:
    """The touchpoints given, or the guess from names when None (``[]`` turns it off)."""
    return tuple(given) if given is not None else tuple(guess(present))
