"""Colours shared by the figure builders."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.express as px

from analysis.schema import MissingColumnError

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


def band_outline(x: Sequence[object], low: Sequence[float], high: Sequence[float],
          ) -> tuple[list[object], list[float | None]]:
    """Outline of the band: each run of finite intervals closed on itself, runs split by None
    (``fill="toself"`` fills each run apart, so a gap stays a gap)."""
    ok = np.isfinite(np.asarray(low, dtype=float)) & np.isfinite(np.asarray(high, dtype=float))
    out_x: list[object] = []
    out_y: list[float | None] = []
    for run in np.split(np.arange(len(ok)), np.flatnonzero(np.diff(ok.astype(int))) + 1):
        if len(run) and ok[run[0]]:
            gap = [None] if out_x else []
            out_x += gap + [x[j] for j in run] + [x[j] for j in run[::-1]]
            out_y += gap + [high[j] for j in run] + [low[j] for j in run[::-1]]
    return out_x, out_y


def require_columns(table, columns: Sequence[str], what: str, source: str) -> None:
    """Raise a MissingColumnError naming the columns a figure needs and ``table`` lacks."""
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MissingColumnError(f"{what} needs the column(s) {', '.join(missing)}.",
                                 f"Pass {source} with these columns.")
