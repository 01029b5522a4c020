"""User text is shown as text: a dataset name, a column or a touchpoint never becomes Markdown."""

from __future__ import annotations

import re

from analysis import demo
from analysis.store import Workspace
from tests.app.conftest import open_page
from ui.text import md

HOSTILE = "[x](http://evil.example) ![](http://img.example/a.png) **bold** :red[red] <b>"


def _unescaped_markdown(body: str) -> bool:
    """Whether a Markdown source still holds an active link, image, emphasis or directive."""
    return bool(re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\((?<!\\)|(?<!\\)\*\*|(?<!\\):red", body))


def test_escaping_leaves_no_active_markdown():
    assert _unescaped_markdown(HOSTILE)
    assert not _unescaped_markdown(md(HOSTILE))
    assert md("a\nb") == "a b"


def test_a_hostile_dataset_name_is_shown_as_text(workspace_path):
    with Workspace(workspace_path) as ws:
        events_id = demo.ensure_demo(ws)
        ws.rename(events_id, HOSTILE)
    at = open_page(dataset=events_id)
    assert [e.value for e in at.exception] == []
    shown = [h.value for h in at.header] + [c.value for c in at.caption]
    assert any("evil" in text for text in shown)
    assert not any(_unescaped_markdown(text) for text in shown)
    at = open_page("pages/7_Data.py", dataset=events_id)
    assert [e.value for e in at.exception] == []
    at.button(key=f"delete_{events_id}").click()
    at = at.run()
    labels = [w.value for w in at.warning] + [s.value for s in at.success]
    assert any("evil" in text for text in labels)
    assert not any(_unescaped_markdown(text) for text in labels)
