"""Text inside figures: user names made inert and short enough to fit, values in human units.

Plotly reads a small HTML subset (``<b>``, ``<br>``, ``<a href>``) in labels and hover text, so
user text (touchpoints, channels, attribute values) passes through :func:`plain` first.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

ELLIPSIS = "…"


def plain(text: object) -> str:
    """``text`` with ``&``, ``<`` and ``>`` as entities: Plotly shows them, never parses tags."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, max_chars: int, *, keep_end: bool = False) -> str:
    """``text`` cut to ``max_chars`` characters with an ellipsis; ``keep_end`` keeps both ends
    ("T09-1 Pro…party 1"), which tells apart names that share a long beginning."""
    if len(text) <= max_chars:
        return text
    room = max(max_chars - 1, 2)
    if not keep_end:
        return text[:room].rstrip() + ELLIPSIS
    head = (room + 1) // 2
    return text[:head].rstrip() + ELLIPSIS + text[len(text) - (room - head):].lstrip()


def short_labels(names: Sequence[str], max_chars: int) -> list[str]:
    """Each name shortened to ``max_chars``; names whose short forms would collide keep their
    end as well, so different names never read the same."""
    short = {n: shorten(n, max_chars) for n in set(names)}
    seen: dict[str, set[str]] = {}
    for name, text in short.items():
        seen.setdefault(text, set()).add(name)
    for group in seen.values():
        if len(group) > 1:
            for name in group:
                short[name] = shorten(name, max_chars, keep_end=True)
    return [short[n] for n in names]


def duration_text(seconds: float | None) -> str:
    """A duration read at a glance: 45 s, 12 min, 3.5 h, 2.1 days ("–" when unknown)."""
    if seconds is None or not math.isfinite(float(seconds)):
        return "–"
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def points_text(difference: float) -> str:
    """A difference of two shares in percentage points: "+3.2 pp", "−0.4 pp", "–" if unknown."""
    if difference is None or not math.isfinite(float(difference)):
        return "–"
    points = round(float(difference) * 100, 1)
    if points == 0:
        return "0.0 pp"
    return f"{'+' if points > 0 else '−'}{abs(points):.1f} pp"


def ratio_text(ratio: float) -> str:
    """A ratio of two shares: "1.25×"; "new" when only the numerator is non-zero (the
    denominator is 0); "–" when neither is known."""
    if ratio is None or math.isnan(float(ratio)):
        return "–"
    if math.isinf(float(ratio)):
        return "new"
    return f"{float(ratio):.2f}×"
