"""Where converters finish: do customers complete the transaction online or offline?

A converter's journey is their events in journey order (``analysis.journeys``: timestamp,
then ``event_seq``) up to and including their *first* conversion event; later events are
ignored. The journey *starts* in the channel of its first event and *finishes* in the channel
of that conversion event; the channels it used *before* are those of the events strictly
before the conversion.

Each channel has a kind: "online", "offline" or "unclassified". Callers pass the online and
offline channels (``Definitions.online`` / ``Definitions.offline``); without them the kind is
read from the channel's name by :func:`analysis.definitions.channel_type`:

* **offline** first for names with *direct mail*, *post(al)*, *letter* or *print*;
* **online** for names with *web*, *site*, *online*, *app*, *mobile*, *e-mail*, *mail*,
  *social*, *chat*, *sms*, *push*, *ad(s)*, *search*, *display*, *affiliate*, *digital*,
  *portal*, *internet*, *e-commerce*, *paid*, *organic*, *seo* or *sem*;
* **offline** for names with *store*, *shop*, *branch*, *retail*, *call*, *phone*, *tele*,
  *offline*, *in person*, *agent*, *counter*, *kiosk*, *desk*, *field*, *face*, *visit*,
  *event*, *outlet* or *office* (online words win: "web shop" is online);
* **unclassified** otherwise, and always for events without a channel ("(none)").

So the demo's social, web, email, app and chat are online; store and call center offline.

The per-event work (ordering, the first conversion, each converter's start and finish) runs
in the engine through Narwhals; only counts per channel (pair) reach pandas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import narwhals as nw
import pandas as pd

from analysis.definitions import channel_type
from analysis.frames import as_int, canonical, materialize, to_pandas
from analysis.journeys import MISSING_NODE, order_columns, ordered_window, uses_precomputed
from analysis.results import Status
from analysis.schema import ParameterError
from analysis.touchpoints.attribution import check_conversion

KINDS: tuple[str, ...] = ("online", "offline", "unclassified")
#: Which kinds converters used before converting (unclassified channels do not count).
MIX: tuple[str, ...] = ("online only", "offline only", "both", "none before")
PATH_COLUMNS = ("start_kind", "finish_kind", "customers", "share")
CHANNEL_COLUMNS = ("channel", "kind", "customers", "share")
MIX_COLUMNS = ("before_kinds", "customers", "share")


@dataclass(frozen=True)
class Completion:
    """How converters start and finish their journeys, online or offline.

    ``paths``: start_kind, finish_kind, customers, share (of converters); one row per pair
    that occurs, ordered online→online, online→offline, offline→online, offline→offline,
    then the pairs with an unclassified kind. ``finish``: channel, kind, customers (converters
    whose conversion event was on it), share (of converters); most customers first.
    ``before``: channel, kind, customers (converters who used it before converting), share
    (of converters; a converter counts once per channel, so shares add up to more than 1).
    ``mix``: before_kinds ("online only", "offline only", "both", "none before": neither
    an online nor an offline event before the conversion), customers, share; all four rows.
    ``online_to_offline`` / ``offline_to_online``: share of converters whose journey started
    online and finished offline / the reverse. Without converters or a channel column every
    table is empty and ``converters`` and the shares are 0.
    """

    paths: pd.DataFrame
    finish: pd.DataFrame
    before: pd.DataFrame
    mix: pd.DataFrame
    converters: int
    online_to_offline: float
    offline_to_online: float
    status: Status
    message: str


def default_channel_kinds(channels: Sequence[str]) -> dict[str, str]:
    """Each channel's kind read from its name ("online", "offline" or "unclassified").

    The rule is :func:`analysis.definitions.channel_type` (listed in the module docstring);
    the missing channel "(none)" is always unclassified.
    """
    return {str(c): ("unclassified" if str(c) == MISSING_NODE
                     else channel_type(str(c)) or "unclassified") for c in channels}


def online_offline(
    events: Any,
    *,
    conversion: Sequence[str],
    online: Sequence[str] | None = None,
    offline: Sequence[str] | None = None,
) -> Completion:
    """Do converters start and finish their journeys online or offline?

    Parameters
    ----------
    events
        Events in canonical columns with a ``channel`` column (pandas, Polars, DuckDB,
        PySpark); not modified. Events without a touchpoint are left out.
    conversion
        Touchpoint names that count as converting; a journey ends at the first of them.
    online, offline
        The channels of each kind. None reads the kind from the channel's name (see the
        module docstring) for every channel the other list does not name; channels named in
        neither list are "unclassified". An empty list means no channel is of that kind
        (pass None for the default). Names absent from the data are ignored.

    Returns
    -------
    Completion
        Tables of :class:`Completion`; every share is of the converters (customers with a
        conversion event). Status "degenerate" without a channel column, or when no
        converter's journey touches an online or offline channel; "empty" when nobody
        converted.

    Raises
    ------
    ParameterError
        When ``conversion`` is empty or a string, or a channel is in both lists.
    UnknownValueError
        When a conversion touchpoint is not in the data.
    """
    online_given, offline_given = _check_lists(online, offline)
    lf = canonical(events, "events")
    names = check_conversion(lf, conversion)
    if "channel" not in lf.collect_schema().names():
        return _blank("degenerate", "The events have no channel column, so nothing can be "
                      "called online or offline. Map a column to channel when importing.")
    journeys = _converter_events(lf, names)
    pairs = to_pandas(_start_finish(journeys))
    converters = as_int(pairs["_n"].sum()) if len(pairs) else 0
    if converters == 0:
        return _blank("empty", "No customer reached a conversion touchpoint "
                      f"({', '.join(names)}) in the data left after filters.")
    before = to_pandas(journeys.filter(nw.col("_pos") < nw.col("_conv_pos"))
                       .group_by("_channel").agg(nw.col("customer_id").n_unique().alias("_n")))
    # Every channel of a converter's journey is its start, its finish or a channel before.
    channels = sorted(set(pairs["_start"]) | set(pairs["_finish"]) | set(before["_channel"]))
    kinds = _kinds([str(c) for c in channels], online_given, offline_given)
    mix = to_pandas(_mix_counts(journeys, kinds))
    paths = _paths(pairs, kinds, converters)
    flows = paths.set_index(["start_kind", "finish_kind"])["share"]
    classified = any(kinds.get(c) in ("online", "offline") for c in channels)
    return Completion(
        paths=paths,
        finish=_channel_table(pairs.groupby("_finish")["_n"].sum(), kinds, converters),
        before=_channel_table(before.set_index("_channel")["_n"], kinds, converters),
        mix=_mix_table(mix, converters),
        converters=converters,
        online_to_offline=float(flows.get(("online", "offline"), 0.0)),
        offline_to_online=float(flows.get(("offline", "online"), 0.0)),
        status="ok" if classified else "degenerate",
        message="" if classified else (
            "No channel of the converters' journeys is known to be online or offline. "
            "Say which channels are online and which offline in the definitions."),
    )


def _check_lists(
    online: Sequence[str] | None, offline: Sequence[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """The channel lists as text; a string, or a channel in both lists, raises."""
    lists: dict[str, list[str] | None] = {}
    for kind, channels in (("online", online), ("offline", offline)):
        if isinstance(channels, str):
            raise ParameterError(f"{kind} must be a list of channels, got the text "
                                 f"{channels!r}.", f"Write [{channels!r}].")
        lists[kind] = None if channels is None else [str(c) for c in channels]
    both = sorted(set(lists["online"] or ()) & set(lists["offline"] or ()))
    if both:
        raise ParameterError(
            f"The channel(s) {', '.join(map(repr, both))} are listed as both online and "
            "offline.", "Keep each channel in one list only (or in neither, to leave it "
            "unclassified).")
    return lists["online"], lists["offline"]


def _kinds(
    channels: list[str], online: list[str] | None, offline: list[str] | None
) -> dict[str, str]:
    """Each present channel's kind, from the lists given and the default for the rest."""
    given = {"online": None if online is None else set(online),
             "offline": None if offline is None else set(offline)}
    kinds = {}
    for channel, default in default_channel_kinds(channels).items():
        listed = [k for k, names in given.items() if names is not None and channel in names]
        # A kind whose list was given holds only the channels listed for it.
        kinds[channel] = listed[0] if listed else (
            default if default != "unclassified" and given[default] is None
            else "unclassified")
    return kinds


def _converter_events(lf: nw.LazyFrame, conversion: list[str]) -> nw.LazyFrame:
    """Converters' events up to and including their first conversion, numbered.

    Columns: customer_id, ``_channel`` (text; missing: "(none)"), ``_pos`` (1-based place in
    the journey) and ``_conv_pos`` (the place of the first conversion). Places are read from
    the columns precomputed at import when ``lf`` carries them (no sort), else numbered by
    one window pass; the first conversion comes from the conversion events alone, joined
    back.
    """
    # The channel keeps its stored type (an ENUM is cheap to carry through the join) until
    # the converters' events are picked.
    channel = nw.col("channel").alias("_channel")
    hit = nw.col("touchpoint").cast(nw.String).is_in(conversion)
    if uses_precomputed(lf):
        steps = lf.filter(~nw.col("_step").is_null()).select(
            "customer_id", channel, nw.col("_step").cast(nw.Int64).alias("_pos"),
            hit.alias("_hit"))
    else:
        order = order_columns(lf.collect_schema().names())
        steps = lf.filter(~nw.col("touchpoint").is_null()).select(
            "customer_id", *dict.fromkeys([*order, "touchpoint"]), channel, hit.alias("_hit"))
        steps = ordered_window(steps, order, step="_pos").select(
            "customer_id", "_channel", nw.col("_pos").cast(nw.Int64), "_hit")
    first = materialize(steps.filter(nw.col("_hit")).group_by("customer_id")
                        .agg(nw.col("_pos").min().alias("_conv_pos")))
    journeys = steps.join(first, on="customer_id").filter(nw.col("_pos") <= nw.col("_conv_pos"))
    return materialize(journeys.select(
        "customer_id", nw.col("_channel").cast(nw.String).fill_null(MISSING_NODE), "_pos",
        "_conv_pos"))


def _start_finish(journeys: nw.LazyFrame) -> nw.LazyFrame:
    """Converters per (start channel, finish channel): ``_start``, ``_finish``, ``_n``."""
    pos, conv_pos = nw.col("_pos"), nw.col("_conv_pos")
    ends = journeys.filter((pos == 1) | (pos == conv_pos)).group_by("customer_id").agg(
        nw.when(pos == 1).then(nw.col("_channel")).min().alias("_start"),
        nw.when(pos == conv_pos).then(nw.col("_channel")).min().alias("_finish"))
    return ends.group_by("_start", "_finish").agg(nw.len().alias("_n"))


def _mix_counts(journeys: nw.LazyFrame, kinds: dict[str, str]) -> nw.LazyFrame:
    """Converters per (used online before, used offline before): ``_on``, ``_off``, ``_n``;
    converters with no event before the conversion are not counted here."""
    def used(kind: str) -> nw.Expr:
        listed = [c for c, k in kinds.items() if k == kind]
        # No channel of the kind: a column that is always false (places start at 1), since
        # a literal cannot be aggregated and SQL engines reject an empty IN list.
        flag = nw.col("_channel").is_in(listed) if listed else nw.col("_pos") == 0
        return flag.cast(nw.Int64).max().alias("_on" if kind == "online" else "_off")

    return (journeys.filter(nw.col("_pos") < nw.col("_conv_pos"))
            .group_by("customer_id").agg(used("online"), used("offline"))
            .group_by("_on", "_off").agg(nw.len().alias("_n")))


def _paths(pairs: pd.DataFrame, kinds: dict[str, str], converters: int) -> pd.DataFrame:
    table = pairs.assign(start_kind=pairs["_start"].map(kinds),
                         finish_kind=pairs["_finish"].map(kinds))
    table = (table.groupby(["start_kind", "finish_kind"], as_index=False)["_n"].sum()
             .rename(columns={"_n": "customers"}))
    rank = {k: i for i, k in enumerate(KINDS)}
    table = table.assign(
        _unclassified=(table["start_kind"] == "unclassified")
        | (table["finish_kind"] == "unclassified"),
        _s=table["start_kind"].map(rank), _f=table["finish_kind"].map(rank),
    ).sort_values(["_unclassified", "_s", "_f"])
    table["customers"] = table["customers"].astype("int64")
    table["share"] = table["customers"] / converters
    return table[list(PATH_COLUMNS)].reset_index(drop=True)


def _channel_table(counts: pd.Series, kinds: dict[str, str], converters: int) -> pd.DataFrame:
    table = pd.DataFrame({"channel": counts.index.astype(str),
                          "customers": counts.to_numpy().astype("int64")})
    table["kind"] = table["channel"].map(kinds).fillna("unclassified")
    table["share"] = table["customers"] / converters
    table = table.sort_values(["customers", "channel"], ascending=[False, True])
    return table[list(CHANNEL_COLUMNS)].reset_index(drop=True)


def _mix_table(counts: pd.DataFrame, converters: int) -> pd.DataFrame:
    tally = dict.fromkeys(MIX, 0)
    for on, off, n in counts[["_on", "_off", "_n"]].itertuples(index=False):
        on, off = as_int(on), as_int(off)
        key = "both" if on and off else "online only" if on else (
            "offline only" if off else "none before")
        tally[key] += as_int(n)
    tally["none before"] += converters - sum(tally.values())
    table = pd.DataFrame({"before_kinds": list(MIX),
                          "customers": pd.Series(list(tally.values()), dtype="int64")})
    table["share"] = table["customers"] / converters
    return table


def _blank(status: Status, message: str) -> Completion:
    def empty(columns: Sequence[str]) -> pd.DataFrame:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "customers" else
                                          "float64" if c == "share" else "object")
                             for c in columns})

    return Completion(
        paths=empty(PATH_COLUMNS), finish=empty(CHANNEL_COLUMNS), before=empty(CHANNEL_COLUMNS),
        mix=empty(MIX_COLUMNS), converters=0, online_to_offline=0.0, offline_to_online=0.0,
        status=status, message=message,
    )
