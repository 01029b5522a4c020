"""User text (dataset names, file columns, touchpoints, typed names) made inert in Markdown.

Streamlit renders titles, captions, alerts and widget labels as Markdown: a dataset called
``[x](http://evil)`` would become a link and ``![](http://img)`` an image. Every piece of user
text that goes into such an element passes through :func:`md` first.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; ":" also stops
# Streamlit's emoji shortcodes and ":color[...]" directives.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")


def md(text: object) -> str:
    """``text`` with every Markdown-significant character escaped and line breaks flattened."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def md_list(values, limit: int = 40) -> str:
    """Escaped values joined by commas ("A, B, … (52 in all)")."""
    values = [str(v) for v in values]
    shown = ", ".join(md(v) for v in values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")
