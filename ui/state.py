"""URL state: the selected dataset, global filters and page settings live in the query string.

The codec functions are pure (no Streamlit) so they can be tested on their own; ``read_url``
and ``write_url`` touch ``st.query_params``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import streamlit as st

from analysis.definitions import Definitions
from analysis.frames import Filters

DATASET_KEY = "dataset"
FROM_KEY = "from"
TO_KEY = "to"
CHANNEL_KEY = "channel"
ATTRIBUTE_PREFIX = "f."
#: Definitions travel in links: "d=1" says they are there (absent keys then mean "none").
DEFINITIONS_KEY = "d"
DEFINITION_KEYS = {"conversion": "d.conv", "churn": "d.churn", "stages": "d.stage",
                   "online": "d.online", "offline": "d.offline"}
INACTIVITY_KEY = "d.inactive"
SEGMENT_KEY = "d.segment"
GLOBAL_KEYS = (DATASET_KEY, FROM_KEY, TO_KEY, CHANNEL_KEY)

Params = dict[str, list[str]]


def read_url() -> Params:
    """Every query parameter with all its values."""
    return {key: list(st.query_params.get_all(key)) for key in st.query_params}


def write_url(params: Mapping[str, list[str] | str | None], *, keep_prefix: str | None = None):
    """Make the query string hold exactly ``params`` (plus keys starting with keep_prefix)."""
    wanted = {k: ([v] if isinstance(v, str) else list(v)) for k, v in params.items() if v}
    for key in list(st.query_params):
        if key not in wanted and not (keep_prefix and key.startswith(keep_prefix)):
            del st.query_params[key]
    for key, values in wanted.items():
        if list(st.query_params.get_all(key)) != values:
            st.query_params[key] = values


def first(params: Mapping[str, list[str]], key: str) -> str | None:
    values = params.get(key) or []
    return values[0] if values else None


def parse_int(text: str | None, low: int, high: int) -> int | None:
    """A whole number a link carries, when it lies in [low, high]; None otherwise. Never
    raises: "²" is a digit to str.isdigit but not to int(), and huge numbers are refused."""
    if not text or len(text) > 9 or not (text.isascii() and text.isdecimal()):
        return None
    value = int(text)
    return value if low <= value <= high else None


def parse_date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def filters_to_params(filters: Filters) -> Params:
    out: Params = {}
    if filters.start:
        out[FROM_KEY] = [filters.start.isoformat()]
    if filters.end:
        out[TO_KEY] = [filters.end.isoformat()]
    if filters.channels:
        out[CHANNEL_KEY] = list(filters.channels)
    for column, values in filters.attributes:
        if values:
            out[ATTRIBUTE_PREFIX + column] = list(values)
    return out


def filters_from_params(
    params: Mapping[str, list[str]],
    *,
    channels: list[str] | None = None,
    attributes: Mapping[str, list[str]] | None = None,
) -> Filters:
    """Filters from URL parameters, keeping only values the dataset has (when given)."""
    start, end = parse_date(first(params, FROM_KEY)), parse_date(first(params, TO_KEY))
    if start and end and start > end:
        start, end = end, start
    chosen_channels = [c for c in params.get(CHANNEL_KEY, []) if channels is None or c in channels]
    attrs = []
    for key, values in params.items():
        if not key.startswith(ATTRIBUTE_PREFIX):
            continue
        column = key[len(ATTRIBUTE_PREFIX):]
        if attributes is not None:
            if column not in attributes:
                continue
            values = [v for v in values if v in attributes[column]]
        if values:
            attrs.append((column, tuple(values)))
    return Filters(start=start, end=end, channels=tuple(chosen_channels), attributes=tuple(attrs))


def definitions_to_params(definitions: Definitions) -> Params:
    """The dataset definitions as URL parameters (see ``DEFINITIONS_KEY``)."""
    out: Params = {DEFINITIONS_KEY: ["1"]}
    for name, key in DEFINITION_KEYS.items():
        values = list(getattr(definitions, name))
        if values:
            out[key] = values
    if definitions.inactivity_days is not None:
        out[INACTIVITY_KEY] = [str(definitions.inactivity_days)]
    if definitions.segment:
        out[SEGMENT_KEY] = [definitions.segment]
    return out


def definitions_from_params(params: Mapping[str, list[str]]) -> Definitions | None:
    """Definitions written into a link, or None when the link carries none."""
    if first(params, DEFINITIONS_KEY) != "1":
        return None
    days = first(params, INACTIVITY_KEY)
    return Definitions.from_dict({
        **{name: list(params.get(key, [])) for name, key in DEFINITION_KEYS.items()},
        "inactivity_days": parse_int(days, 1, 3650),
        "segment": first(params, SEGMENT_KEY),
    })


def is_definition_key(key: str) -> bool:
    return key == DEFINITIONS_KEY or key.startswith(DEFINITIONS_KEY + ".")
