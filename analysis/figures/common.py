"""Colours shared by the figure builders."""

from __future__ import annotations

import plotly.express as px

PALETTE = px.colors.qualitative.Safe


_END_COLOR = "#B0B0B0"
_OTHER_COLOR = "#D9D9D9"


def rgba(color: str, alpha: float) -> str:
    """'#RRGGBB' or 'rgb(r, g, b)' as 'rgba(r,g,b,alpha)'."""
    if color.startswith("rgb("):
        r, g, b = (int(v) for v in color[4:-1].split(","))
    else:
        h = color.lstrip("#")
        r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def node_colors(names: list[str]) -> dict[str, str]:
    palette = px.colors.qualitative.Safe + px.colors.qualitative.Vivid
    regular = sorted(n for n in set(names) if n not in ("(end)", "Other"))
    out = {n: palette[i % len(palette)] for i, n in enumerate(regular)}
    out["(end)"] = _END_COLOR
    out["Other"] = _OTHER_COLOR
    return out
