"""Dataset names that stay unique in a workspace: a second "shop" becomes "shop (2)".

Pure functions, used wherever a dataset is named: the store (import, rename) and the UI.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The store keeps the first 120 characters of a name (analysis/store.py ``_clean_name``):
#: the suffix must fit inside them, or two long names would collide again once cut.
NAME_LIMIT = 120

_SUFFIX = re.compile(r"^(?P<base>.*?) \((?P<n>\d+)\)$")


def clean_name(name: str) -> str:
    """``name`` with runs of white space made single and the ends trimmed, as stored."""
    return " ".join(str(name).split())[:NAME_LIMIT]


def unique_name(wanted: str, taken: Iterable[str]) -> str:
    """``wanted`` if no dataset has that name yet, else the first free "name (n)", n >= 2.

    Names compare without regard to case or repeated spaces, as people read them: with
    "Shop" taken, "shop" becomes "shop (2)". A name that already ends in " (n)" counts on
    from that base ("shop (2)" taken -> "shop (3)"). An empty name is returned as it is, for
    the store to refuse with its own message.

    >>> unique_name("shop", ["shop", "shop (2)"])
    'shop (3)'
    """
    name = clean_name(wanted)
    used = {clean_name(t).casefold() for t in taken}
    if not name or name.casefold() not in used:
        return name
    match = _SUFFIX.match(name)
    base = match.group("base") if match and match.group("base") else name
    n = 2
    while True:
        suffix = f" ({n})"
        candidate = base[: NAME_LIMIT - len(suffix)].rstrip() + suffix
        if candidate.casefold() not in used:
            return candidate
        n += 1
