"""Cached access to the workspace and to analysis results, keyed on small values only."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import narwhals as nw
import pandas as pd
import streamlit as st

from analysis import demo, frames, ingest, overview, spark_source
from analysis.frames import Filters
from analysis.schema import AnalysisError
from analysis.store import DEFAULT_PATH, WORKSPACE_ENV, DatasetInfo, Workspace
from ui.text import md


def workspace_path() -> str:
    return str(Path(os.environ.get(WORKSPACE_ENV) or DEFAULT_PATH).resolve())


@st.cache_resource(show_spinner="Opening the workspace…", max_entries=4)
def _open_workspace(path: str) -> Workspace:
    ws = Workspace(path)
    demo.ensure_demo(ws)
    return ws


@st.cache_resource(show_spinner="Reading the Spark sources…", max_entries=4)
def _sync_spark_sources(path: str) -> str | None:
    """Register the sources of ``$JOURNEY_SPARK_CONFIG`` (once per server); the problem in
    words when they cannot be read, None when fine or not configured."""
    try:
        config = spark_source.configured()
        if config is not None:
            spark_source.sync(_open_workspace(path), config)
    except AnalysisError as error:
        return str(error)
    return None


def workspace() -> Workspace:
    """The shared workspace (one per directory), seeded with the demo on first use, with the
    configured Spark sources registered."""
    path = workspace_path()
    problem = _sync_spark_sources(path)
    if problem:
        st.error("The Spark sources could not be registered: " + md(problem),
                 icon=":material/error:")
    return _open_workspace(path)


def pickable_datasets(ws: Workspace) -> list[DatasetInfo]:
    """Datasets a user picks directly: events tables and tables not linked to one."""
    return [d for d in ws.datasets() if d.linked_to is None]


def linked_feedback(ws: Workspace, info: DatasetInfo) -> DatasetInfo | None:
    if info.kind == "feedback":
        return info
    return next((d for d in ws.linked(info.id) if d.kind == "feedback"), None)


def linked_customers(ws: Workspace, info: DatasetInfo) -> DatasetInfo | None:
    if info.kind == "customers":
        return info
    return next((d for d in ws.linked(info.id) if d.kind == "customers"), None)


@st.cache_data(max_entries=64, ttl=3600, show_spinner="Computing the overview…")
def dataset_overview(
    path: str,
    events_id: str,
    feedback_id: str | None,
    filters: Filters,
    conversion: tuple[str, ...],
    churn: tuple[str, ...],
    inactivity_days: int | None,
) -> overview.Overview:
    events, feedback = events_with_feedback(path, events_id, feedback_id, filters)
    return overview.dataset_overview(
        events, feedback, conversion=list(conversion), churn=list(churn),
        inactivity_days=inactivity_days,
    )


@st.cache_data(max_entries=32, ttl=3600, show_spinner=False)
def weekly_activity(path: str, events_id: str, filters: Filters) -> pd.DataFrame:
    return overview.weekly_activity(events_frame(path, events_id, filters))


@st.cache_data(max_entries=4, ttl=1800, show_spinner="Reading the file…")
def read_upload(digest: str, filename: str, _data: bytes) -> pd.DataFrame:
    """The raw table of an uploaded file, cached on its sha256 ``digest`` (the bytes, with a
    leading underscore, are not hashed again on every rerun)."""
    return ingest.read_table(_data, filename=filename)


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def events_frame(path: str, events_id: str, filters: Filters) -> nw.LazyFrame:
    """A stored events dataset as a filtered lazy frame (the input of every view's call)."""
    return frames.load(_open_workspace(path), events_id, filters)


def events_with_feedback(
    path: str, events_id: str, feedback_id: str | None, filters: Filters
) -> tuple[nw.LazyFrame, nw.LazyFrame | None]:
    """Events and their linked feedback, filtered consistently (see frames.load_with_feedback)."""
    return frames.load_with_feedback(_open_workspace(path), events_id, feedback_id, filters)


def clear_caches() -> None:
    """After an import, rename or delete: results keyed on ids stay valid, lists do not."""
    dataset_overview.clear()
    weekly_activity.clear()
