"""Touchpoints page controls, each drawn with the section it steers and seeded from the URL
when the page is entered."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from analysis.touchpoints.completion import default_channel_kinds
from ui.sidebar import Context
from ui.touchpoints import (
    BY,
    DEFAULTS,
    PERIODS,
    TouchSettings,
    channels,
    segment_columns,
    segment_values,
    settings_from_url,
)

EVERYONE = ""
#: The link's way to say "no channel is online" (an empty list is not written into a URL).
NO_CHANNEL = "-"


def seed(ctx: Context) -> TouchSettings:
    """Widget values from the link when the page is entered; the settings from the link.

    Each widget is seeded on its own when its value is missing: the widgets of a closed tab
    are not drawn, so Streamlit forgets them, and the link has kept their settings."""
    s = _known_personas(ctx, settings_from_url(ctx.url))
    ss = st.session_state
    fresh = ss.get("t_seeded_for") != ctx.events.id  # entering, or another dataset picked
    wanted = {"t_by": s.by, "t_lb": s.lookback_days, "t_hl": s.half_life_days,
              "t_per": s.period, "t_np": s.periods, "t_tol": s.tolerance_days,
              "t_seg": _segment(ctx, s), "t_pa": s.persona_a or EVERYONE,
              "t_pb": s.persona_b or EVERYONE}
    ss.update({k: v for k, v in wanted.items() if fresh or k not in ss})
    ss["t_seeded_for"] = ctx.events.id
    if fresh or "t_on" not in ss or "t_off" not in ss:
        known = channels(ctx)
        for key, default in zip(("on", "off"), default_kinds(ctx), strict=True):
            listed = ctx.url.get(key)
            picked = default if listed is None else [c for c in listed if c != NO_CHANNEL]
            ss[f"t_{key}"] = [c for c in picked if c in known]
    return s


def _segment(ctx: Context, s: TouchSettings) -> str:
    """The persona column of the link, or the default one."""
    columns = segment_columns(ctx)
    return s.segment if s.segment is not None else (columns[0] if columns else "")


def _known_personas(ctx: Context, s: TouchSettings) -> TouchSettings:
    """``s`` without personas its segment column does not have (a link kept while the map's
    tab is closed carries only personas that can be drawn)."""
    values = segment_values(ctx, _segment(ctx, s))
    a = s.persona_a if s.persona_a in values else None
    b = s.persona_b if a and s.persona_b in values and s.persona_b != a else None
    return replace(s, persona_a=a, persona_b=b)


def scorecard_controls() -> tuple[str, int, int]:
    cols = st.columns(3)
    period = cols[0].selectbox("Reach trend by", list(PERIODS), key="t_per",
                               format_func=PERIODS.get)
    periods = cols[1].number_input("over the last … periods", 2, 24, key="t_np",
                                   help="Reach is compared between the earlier and the later "
                                   "half of these periods.")
    tolerance = cols[2].number_input(
        "Tie feedback to the journey within (days)", 0, 365, key="t_tol",
        help="Feedback without a touchpoint is tied to the customer's latest event at most "
        "this long before it.")
    return str(period), int(periods), int(tolerance)


def attribution_controls() -> tuple[str, int, int]:
    cols = st.columns(3)
    by = cols[0].segmented_control("Credit", list(BY), key="t_by", format_func=BY.get) or \
        DEFAULTS["by"]
    lookback = cols[1].number_input(
        "Lookback (days, 0 = whole journey)", 0, 3650, key="t_lb",
        help="Only touches at most this long before the conversion earn credit.")
    half_life = cols[2].number_input("Time-decay half-life (days)", 1, 365, key="t_hl",
                                     help="A touch this long before the conversion earns "
                                     "half the weight of one just before it.")
    return str(by), int(lookback), int(half_life)


def channel_controls(ctx: Context) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Which channels count as online and offline (the dataset's definitions by default)."""
    known = channels(ctx)
    with st.expander("Which channels are online and which offline",
                     icon=":material/settings_ethernet:"):
        st.caption("The default comes from the dataset's definitions: channel names such as "
                   "web, app, email, social, chat, SMS, push or search read as online; store, "
                   "shop, branch, call, phone, agent or kiosk as offline. Change them here for "
                   "this view (the link keeps them), or for good on the Data page.")
        cols = st.columns(2)
        online = cols[0].multiselect("Online channels", known, key="t_on")
        offline = cols[1].multiselect("Offline channels",
                                      [c for c in known if c not in online], key="t_off")
    return tuple(online), tuple(c for c in offline if c not in online)


def default_kinds(ctx: Context) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Online and offline channels from the definitions, or from the channel names when the
    definitions class none."""
    d = ctx.definitions
    if d.online or d.offline:
        return tuple(d.online), tuple(d.offline)
    kinds = default_channel_kinds(channels(ctx))
    return (tuple(c for c, k in kinds.items() if k == "online"),
            tuple(c for c, k in kinds.items() if k == "offline"))


def channel_params(ctx: Context, online: tuple[str, ...], offline: tuple[str, ...]):
    """The mapping in the link, only where it differs from the default."""
    out: dict[str, list[str]] = {}
    for key, picked, default in zip(("on", "off"), (online, offline), default_kinds(ctx),
                                    strict=True):
        if set(picked) != set(default):
            out[key] = list(picked) or [NO_CHANNEL]
    return out


def persona_controls(ctx: Context) -> tuple[str | None, str | None, str | None]:
    """The persona column and one or two personas to draw."""
    columns = segment_columns(ctx)
    ss = st.session_state
    if ss.get("t_seg") not in ["", *columns]:
        ss["t_seg"] = columns[0] if columns else ""
    cols = st.columns(3)
    segment = cols[0].selectbox("Persona or segment column", ["", *columns], key="t_seg",
                                format_func=lambda c: c or "None",
                                disabled=not columns,
                                help="An attribute that sorts customers into personas "
                                "(persona, segment, plan…).")
    values = segment_values(ctx, segment)
    for key in ("t_pa", "t_pb"):
        if ss.get(key) not in [EVERYONE, *values]:
            ss[key] = EVERYONE
    a = cols[1].selectbox("Draw the map for", [EVERYONE, *values], key="t_pa",
                          format_func=lambda v: v or "Every customer", disabled=not values)
    b = cols[2].selectbox("Side by side with", [EVERYONE, *[v for v in values if v != a]],
                          key="t_pb", format_func=lambda v: v or "Nobody",
                          disabled=not (values and a))
    return segment or "", a or None, (b or None) if a else None


def settings(base: TouchSettings, scorecard: tuple[str, int, int] | None,
             attribution: tuple[str, int, int] | None,
             personas: tuple[str | None, str | None, str | None] | None) -> TouchSettings:
    """The settings as the widgets now have them (sections not drawn keep the link's)."""
    s = base
    if scorecard:
        s = replace(s, period=scorecard[0], periods=scorecard[1], tolerance_days=scorecard[2])
    if attribution:
        s = replace(s, by=attribution[0], lookback_days=attribution[1],
                    half_life_days=attribution[2])
    if personas:
        s = replace(s, segment=personas[0], persona_a=personas[1], persona_b=personas[2])
    return s
