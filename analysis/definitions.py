"""What counts as conversion and churn when the user has not said: guessed from names.

Every view (and Home) uses these guesses, so one dataset gets one definition. They live below
every view so that no analysis imports another view's module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import narwhals as nw
import numpy as np

from analysis.frames import seconds_between, to_pandas

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


# ---------------------------------------------------------------------------- per dataset

#: Journey stages in the order a generic customer lifecycle runs through them.
STAGE_VOCABULARY = (
    "awareness", "discovery", "interest", "consideration", "evaluation", "intent", "purchase",
    "conversion", "onboarding", "usage", "service", "retention", "loyalty", "renewal",
    "advocacy",
)
_OFFLINE_FIRST = re.compile(r"direct ?mail|\bpost(al)?\b|letter|print", re.IGNORECASE)
ONLINE_PATTERN = re.compile(
    r"web|site|online|\bapp\b|mobile|e-?mail|\bmail\b|social|chat|sms|push|\bads?\b|search"
    r"|display|affiliate|digital|portal|internet|e-?commerce|paid|organic|seo|sem",
    re.IGNORECASE,
)
OFFLINE_PATTERN = re.compile(
    r"store|shop|branch|retail|call|phone|tele|offline|in[- ]?person|agent|counter|kiosk"
    r"|desk|field|face|visit|event|outlet|office",
    re.IGNORECASE,
)
SEGMENT_NAMES = ("persona", "segment", "customer_type", "customer type", "tier", "plan",
                 "cohort", "region")


@dataclass(frozen=True)
class Definitions:
    """What conversion, churn, stages, segments and channel types mean for one dataset.

    Set once per dataset (guessed at import, editable), used by every view and written into
    shared links. ``churn`` touchpoints and ``inactivity_days`` combine: a customer churned
    when they have a churn touchpoint or were inactive longer than that before the data ends.
    """

    conversion: tuple[str, ...] = ()
    churn: tuple[str, ...] = ()
    inactivity_days: int | None = None
    stages: tuple[str, ...] = ()
    segment: str | None = None
    online: tuple[str, ...] = ()
    offline: tuple[str, ...] = ()

    @property
    def churn_defined(self) -> bool:
        return bool(self.churn) or self.inactivity_days is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> Definitions:
        """Definitions from stored JSON; unknown keys are ignored, bad values dropped."""
        raw = raw or {}

        def names(key: str) -> tuple[str, ...]:
            value = raw.get(key) or ()
            return tuple(str(v) for v in value) if isinstance(value, list | tuple) else ()

        days = raw.get("inactivity_days")
        segment = raw.get("segment")
        return cls(
            conversion=names("conversion"),
            churn=names("churn"),
            inactivity_days=int(days) if isinstance(days, int | float) and days > 0 else None,
            stages=names("stages"),
            segment=str(segment) if segment else None,
            online=names("online"),
            offline=names("offline"),
        )

    def restricted(self, profile: dict[str, Any]) -> Definitions:
        """Only the names this dataset has (a link may carry another dataset's names)."""
        touchpoints = set(profile.get("touchpoints", {}))
        channels = set(profile.get("channels", {}))
        stages = set(profile.get("stages", {}))
        attributes = set(profile.get("attributes", {}))
        return replace(
            self,
            conversion=tuple(t for t in self.conversion if t in touchpoints),
            churn=tuple(t for t in self.churn if t in touchpoints),
            stages=tuple(s for s in self.stages if s in stages),
            segment=self.segment if self.segment in attributes else None,
            online=tuple(c for c in self.online if c in channels),
            offline=tuple(c for c in self.offline if c in channels and c not in self.online),
        )

    def summary(self) -> str:
        """One line for the sidebar: "Conversion: payment_done · Churn: 30 days inactive"."""
        churn = list(self.churn)
        if self.inactivity_days is not None:
            churn.append(f"{self.inactivity_days} days inactive")
        parts = [
            "Conversion: " + (_short(self.conversion) or "not set"),
            "Churn: " + (_short(tuple(churn)) or "not set"),
        ]
        if self.segment:
            parts.append(f"Segment: {self.segment}")
        return " · ".join(parts)


def _short(names: tuple[str, ...], limit: int = 2) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" +{len(names) - limit}" if len(names) > limit else "")


def channel_type(channel: str) -> str | None:
    """"online", "offline" or None (cannot tell) from a channel's name."""
    if _OFFLINE_FIRST.search(channel):
        return "offline"
    if ONLINE_PATTERN.search(channel):
        return "online"
    if OFFLINE_PATTERN.search(channel):
        return "offline"
    return None


def guess_segment(attributes: Iterable[str]) -> str | None:
    """The attribute column that reads as a persona or segment, by name."""
    by_name = {str(a).strip().lower(): a for a in attributes}
    for name in SEGMENT_NAMES:
        for key, column in by_name.items():
            if key == name or key.replace("_", " ") == name or key.endswith("_" + name):
                return column
    return None


def guess_definitions(profile: dict[str, Any], stage_order: Sequence[str] = ()) -> Definitions:
    """Definitions guessed from names in a dataset profile (see ``ingest.profile``).

    ``stage_order``: stages in the order customers reach them (``stage_order(lf)``); stages
    named like the generic lifecycle are put in that order when no order is given.
    """
    touchpoints = list(profile.get("touchpoints", {}))
    channels = list(profile.get("channels", {}))
    stages = list(stage_order) or sorted(
        profile.get("stages", {}),
        key=lambda s: (STAGE_VOCABULARY.index(s.lower()) if s.lower() in STAGE_VOCABULARY
                       else len(STAGE_VOCABULARY)),
    )
    return Definitions(
        conversion=tuple(conversion_touchpoints(touchpoints)),
        churn=tuple(churn_touchpoints(touchpoints)),
        stages=tuple(stages),
        segment=guess_segment(profile.get("attributes", {})),
        online=tuple(c for c in channels if channel_type(c) == "online"),
        offline=tuple(c for c in channels if channel_type(c) == "offline"),
    )


def stage_order(lf: nw.LazyFrame) -> list[str]:
    """Stages in the order customers reach them, by pairwise precedence.

    For each pair of stages, among customers who reached both, the stage most of them reached
    first wins; stages are ranked by the share of their pairings they win (a tie counts half),
    which copes with customers who skip stages. Ties keep the generic lifecycle order, then
    the most customers first. Empty without a stage column.
    """
    if "stage" not in lf.collect_schema().names():
        return []
    firsts = (
        lf.filter(~nw.col("stage").is_null())
        .with_columns(nw.col("stage").cast(nw.String))
        .group_by("customer_id", "stage")
        .agg(nw.col("timestamp").min().alias("_first"))
    )
    reach = firsts.group_by("stage").agg(nw.len().alias("_n")).collect().to_pandas()
    score = precedence_scores(firsts, "stage", reach["stage"].astype(str))
    customers = dict(zip(reach["stage"].astype(str), reach["_n"], strict=True))
    vocabulary = {s: i for i, s in enumerate(STAGE_VOCABULARY)}
    return sorted(score, key=lambda s: (-score[s], vocabulary.get(s.lower(), len(vocabulary)),
                                        -customers[s], s))


def precedence_scores(firsts: nw.LazyFrame, name: str, names: Iterable[str]) -> dict[str, float]:
    """For each name, the share of its pairings it wins (a tie counts half; 0.5 when unpaired).

    ``firsts`` holds one row per (customer_id, ``name``) with ``_first``, when the customer
    first did it; of two names, the one most customers who did both did first wins the pair.
    """
    # One row per customer with each name's first time (a pass, not a self-join of every
    # customer's names), then per ordered pair: how many who did both did it first.
    names = [str(n) for n in names]
    firsts = firsts.with_columns(nw.col(name).cast(nw.String))
    wide = firsts.group_by("customer_id").agg(
        *[nw.when(nw.col(name) == n).then(nw.col("_first")).min().alias(f"_f{i}")
          for i, n in enumerate(names)])
    pairs = [(i, j) for i in range(len(names)) for j in range(len(names)) if i != j]
    if not pairs:
        return {n: 0.5 for n in names}
    counts = wide.select(*[
        agg for i, j in pairs for agg in (
            (nw.col(f"_f{i}") < nw.col(f"_f{j}")).cast(nw.Int64).sum().alias(f"b{i}_{j}"),
            (~nw.col(f"_f{i}").is_null() & ~nw.col(f"_f{j}").is_null()).cast(nw.Int64).sum()
            .alias(f"n{i}_{j}"))
    ]).collect().to_pandas().iloc[0]
    won: dict[str, list[float]] = {n: [] for n in names}
    for i, j in pairs:
        if counts[f"n{i}_{j}"] > 0:
            before, after = float(counts[f"b{i}_{j}"]), float(counts[f"b{j}_{i}"])
            won[names[i]].append(0.5 + 0.5 * float(np.sign(before - after)))
    return {n: float(np.mean(w)) if w else 0.5 for n, w in won.items()}


def churned(lf: nw.LazyFrame, churn: Sequence[str], inactivity_days: int | None) -> nw.Expr:
    """Per customer (inside ``group_by("customer_id").agg``): 1 when churned, else 0.

    Churned means a churn touchpoint, or (with ``inactivity_days``) a last event more than that
    many days before the last event in ``lf`` (the end of the data, after filters).
    """
    flag = nw.col("touchpoint").cast(nw.String).is_in(list(churn) or [""]).cast(nw.Int64).max()
    if inactivity_days is None:
        return flag
    as_of = lf.select(nw.col("timestamp").max()).collect().item()
    if as_of is None or (isinstance(as_of, float) and as_of != as_of):
        return flag
    cutoff = _as_datetime(as_of) - timedelta(days=inactivity_days)
    quiet = (nw.col("timestamp").max() < nw.lit(cutoff)).cast(nw.Int64)
    return nw.max_horizontal(flag, quiet)


def _as_datetime(value: Any) -> datetime:
    return value.to_pydatetime() if hasattr(value, "to_pydatetime") else value


def suggest_inactivity_days(lf: nw.LazyFrame, quantile: float = 0.9) -> int | None:
    """A churn threshold from the data: the ``quantile`` of the gaps between a customer's
    consecutive events, in whole days (at least 1); None with no repeat events."""
    value = _precomputed_quantile(lf, quantile)
    if value is False:
        previous = lf.select(
            "customer_id", "timestamp",
            nw.col("timestamp").shift(1).over("customer_id", order_by="timestamp")
            .alias("_prev"),
        ).filter(~nw.col("_prev").is_null())
        value = (previous.select(seconds_between(previous, "timestamp", "_prev").alias("_gap"))
                 .select(nw.col("_gap").quantile(quantile, "linear")).collect().item())
    if value is None or value != value:
        return None
    return max(1, math.ceil(float(value) / 86400))


def _precomputed_quantile(lf: nw.LazyFrame, quantile: float) -> Any:
    """The quantile of the gaps from the import's precomputed next event time, in one pass
    without sorting the events; False when it cannot stand for the window's: the columns are
    missing, or an event has no time or no touchpoint (the precomputed columns skip those)."""
    names = lf.collect_schema().names()
    if "_next_timestamp" not in names or "touchpoint" not in names:
        return False
    gap = seconds_between(lf, "_next_timestamp", "timestamp")  # null at a last event
    days = to_pandas(lf.group_by((gap / 86400).ceil().alias("d")).agg(
        nw.len().alias("n"),
        (nw.col("timestamp").is_null() | nw.col("touchpoint").is_null()).any().alias("m")))
    if days.empty or days["m"].any():
        return False
    days = days.dropna(subset=["d"]).sort_values("d")
    if days.empty:
        return None
    # The linear quantile lies between two neighbouring gaps; when both are in the same
    # whole-day bucket, so is the quantile, and the bucket is the answer (no sort of every
    # gap). Otherwise the exact quantile decides.
    ends = days["n"].to_numpy().cumsum()
    position = quantile * (int(ends[-1]) - 1)
    low, high = np.searchsorted(ends, [math.floor(position), math.ceil(position)], "right")
    if low == high:
        return float(days["d"].iloc[low]) * 86400
    return lf.select(gap.quantile(quantile, "linear")).collect().item()


def guess_from_data(data: Any, profile: dict[str, Any]) -> Definitions:
    """Definitions guessed from names, with stages in the order customers reach them."""
    lf = nw.from_native(data).lazy() if not isinstance(data, nw.LazyFrame) else data
    order = stage_order(lf) if "stage" in lf.collect_schema().names() else []
    return guess_definitions(profile, order)
