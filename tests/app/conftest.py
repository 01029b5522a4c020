"""Shared AppTest fixtures and helpers: a fresh workspace per test, pages opened with a URL."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workspace_path(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "workspace.duckdb"
    monkeypatch.setenv("JOURNEY_WORKSPACE", str(path))
    return path


def open_page(page: str | None = None, **params: str | list[str]) -> AppTest:
    """Run app.py (and switch to ``page``) with these query parameters."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for key, value in params.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    return at.run()


def qp(at: AppTest, key: str) -> list[str]:
    """A query parameter's values as a list (AppTest keeps single values as strings)."""
    value = at.query_params.get(key, [])
    return [value] if isinstance(value, str) else list(value)


def count_calls(monkeypatch, module, names: list[str]) -> Counter:
    """Count calls of ``module.<name>`` for each name (Streamlit's caches cleared first, so
    the counts show what a settings change recomputes)."""
    st.cache_data.clear()
    calls: Counter = Counter()
    for name in names:
        real = getattr(module, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    return calls
