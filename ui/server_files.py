"""Data page block: Parquet files already on the server, registered in place (no copy).

Shown only when the server allows it (``$JOURNEY_PARQUET_ROOTS`` names the directories that
may be read; unset, the block is absent): a path is a security boundary, so the roots are
checked here, at registration, and again at every query (``analysis.sources``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import sources
from analysis.naming import unique_name
from analysis.schema import AnalysisError, Kind
from ui import data, upload
from ui.sidebar import Context


@st.cache_data(max_entries=8, ttl=600, show_spinner="Reading the first rows…")
def _head(path: str, kind: str) -> pd.DataFrame:
    return sources.parquet_head(path)


def server_section(ctx: Context) -> None:
    roots = sources.parquet_roots()
    if not roots:
        return
    with st.expander("Register Parquet files on the server (read in place)",
                     icon=":material/folder_open:"):
        st.caption(
            "A Parquet file or a folder of Parquet files under "
            + ", ".join(str(r) for r in roots) + " is registered without copying it: every "
            "view reads the files as they are when it runs. Rows missing a required value "
            "are left out and listed as quarantined."
        )
        kind = st.radio("What do the files hold?", list(upload.KIND_LABELS),
                        format_func=upload.KIND_LABELS.get, horizontal=True, key="srv_kind")
        path = st.text_input("Path on the server", key="srv_path",
                             placeholder=str(roots[0] / "events"),
                             help="A .parquet file, or a folder: every .parquet file under "
                             "it is read (files may differ in columns).").strip()
        if not path:
            return
        try:
            head = _head(path, kind)
        except AnalysisError as error:
            upload.show_error(error)
            return
        st.caption(f"First {len(head):,} rows · {head.shape[1]} columns · Parquet")
        st.dataframe(head.head(20), hide_index=True, height=240)
        digest = "srv" + hashlib.sha256(path.encode()).hexdigest()
        upload.mapping_form(ctx, head, kind, digest, Path(path).name or path,
                            register=lambda chosen, name, link: _register(
                                ctx, path, kind, chosen, name, link))


def _register(ctx: Context, path: str, kind: Kind, chosen: dict[str, str | None], name: str,
              link: str | None) -> None:
    mapping = {target: column for target, column in chosen.items() if column}
    try:
        with st.spinner("Checking and profiling the files (every row is read once)…"):
            stored = unique_name(name, [d.name for d in ctx.workspace.datasets()])
            info = ctx.workspace.register_parquet(path, name=stored, kind=kind,
                                                  mapping=mapping, linked_to=link)
    except AnalysisError as error:
        upload.show_error(error)
        return
    data.clear_caches()
    st.session_state["last_import"] = info.id
    st.session_state["_import_note"] = ""
    upload.select_dataset(info)
    st.rerun()
