"""Data page blocks: upload, column mapping, ingest report, dataset management."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import ingest
from analysis.ingest.report import example_text
from analysis.schema import CANONICAL, DESCRIPTIONS, REQUIRED, AnalysisError, ColumnMapping
from analysis.store import DatasetInfo
from ui import data
from ui.downloads import csv_download
from ui.sidebar import Context
from ui.text import md

KIND_LABELS = {
    "events": "Journey events",
    "feedback": "Feedback (surveys, reviews, tickets)",
    "customers": "Customers (one row each)",
}
NOT_MAPPED = "— not mapped —"
FILE_TYPES = [
    "csv", "tsv", "txt", "tab", "parquet", "pq", "xlsx", "xlsm", "xls",
    "json", "jsonl", "ndjson", "gz",
]


def show_error(error: AnalysisError) -> None:
    st.error(f"**{md(error.problem)}**\n\n{md(error.hint)}", icon=":material/error:")


def upload_section(ctx: Context) -> None:
    kind = st.radio(
        "What does the file hold?", list(KIND_LABELS), format_func=KIND_LABELS.get,
        horizontal=True, key="up_kind",
    )
    upload = st.file_uploader(
        "Upload a CSV, TSV, Parquet, Excel (.xlsx) or JSON file", type=FILE_TYPES, key="upload",
        help="Delimiter, encoding (UTF-8, UTF-8 with BOM, latin-1) and date formats are "
        "detected. Timestamps are converted to UTC.",
    )
    if upload is None:
        st.caption(
            "Events need a customer id, a timestamp and a touchpoint; feedback needs a "
            "timestamp and a text or a score. Other columns are kept as attributes."
        )
        return
    raw = upload.getvalue()
    digest = data.checksum(raw)
    try:
        df = data.read_upload(digest, upload.name, raw)
    except AnalysisError as error:
        show_error(error)
        return
    attrs = df.attrs
    details = [f"{len(df):,} rows", f"{df.shape[1]} columns", str(attrs.get("format", "")).upper()]
    if attrs.get("encoding"):
        details.append(f"encoding {attrs['encoding']}")
    if attrs.get("delimiter"):
        details.append(f"delimiter {attrs['delimiter']!r}")
    st.caption(" · ".join(details))
    st.dataframe(df.head(20), hide_index=True, height=240)
    previous = ctx.workspace.find_by_checksum(digest, kind)
    if previous:
        st.warning(
            f"This file was already imported as “{md(previous.name)}”. Importing it again "
            "creates a second copy.", icon=":material/content_copy:",
        )
    _mapping_form(ctx, df, kind, digest, upload.name)


def _mapping_form(ctx: Context, df: pd.DataFrame, kind: str, digest: str, filename: str):
    guessed = ingest.guess_mapping(df, kind)
    columns = [str(c) for c in df.columns]
    events = [d for d in ctx.workspace.datasets("events")]
    with st.form(f"mapping_{digest[:12]}_{kind}"):
        st.subheader("Column mapping", anchor=False)
        st.caption(
            "We guessed which column holds what. Fix anything wrong, then import. "
            "Columns marked * are required; unmapped columns are kept as attributes."
        )
        name = st.text_input("Dataset name", value=Path(filename).stem.replace("_", " "))
        link = None
        if kind != "events":
            options = [None] + [d.id for d in events]
            labels = {d.id: d.name for d in events}
            default = _best_link(ctx, df, guessed.get("customer_id"), events)
            link = st.selectbox(
                "Link to events dataset", options, index=options.index(default),
                format_func=lambda i: "— none (stand-alone) —" if i is None else labels[i],
                help="Linked tables travel with their events dataset and join on customer_id.",
            )
        chosen: dict[str, str | None] = {}
        cols = st.columns(3)
        for i, target in enumerate(CANONICAL[kind]):
            required = target in REQUIRED[kind] or (
                kind == "feedback" and target in ("text", "score")
            )
            options = [NOT_MAPPED, *columns]
            current = guessed.get(target)
            pick = cols[i % 3].selectbox(
                f"{target}{' *' if target in REQUIRED[kind] else ''}",
                options,
                index=options.index(current) if current in options else 0,
                help=DESCRIPTIONS[target] + (" (text or score is required)" if required
                                             and target in ("text", "score") else ""),
            )
            chosen[target] = None if pick == NOT_MAPPED else pick
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")
    if submitted:
        _import(ctx, df, kind, chosen, name, digest, filename, link)


def _best_link(ctx: Context, df: pd.DataFrame, id_column: str | None, events) -> str | None:
    """The events dataset sharing most customer ids with the upload (None when none does)."""
    if not id_column or not events:
        return None
    ids = df[id_column].dropna().astype(str).str.strip().unique()[:5000].tolist()
    overlap = {d.id: ctx.workspace.known_customers(d.id, ids) for d in events}
    best = max(overlap, key=overlap.get)
    if overlap[best] == 0:
        st.caption("No customer id in this file appears in an events dataset: it is stand-alone.")
        return None
    st.caption(
        f"{overlap[best]:,} of the first {len(ids):,} customer ids in this file are customers "
        f"of “{md(next(d.name for d in events if d.id == best))}”, so it is linked by default."
    )
    return best


def _import(ctx, df, kind, chosen, name, digest, filename, link) -> None:
    try:
        with st.status("Importing…", expanded=False) as status:
            mapping = ColumnMapping.from_dict(kind, chosen)
            status.update(label="Checking every row…")
            result = ingest.prepare(df, mapping, kind)
            status.update(label="Saving to the workspace…")
            info = ctx.workspace.import_result(
                result, name=name, source_checksum=digest, source_name=filename, linked_to=link
            )
            status.update(label="Imported", state="complete")
    except AnalysisError as error:
        show_error(error)
        return
    data.clear_caches()
    st.session_state["last_import"] = info.id
    st.session_state["_switch_dataset"] = link or info.id
    st.rerun()


def import_summary(ctx: Context) -> None:
    """The report of the import just done (survives the rerun through its id)."""
    last = st.session_state.get("last_import")
    if not last:
        return
    try:
        info = ctx.workspace.get(last)
    except AnalysisError:
        return
    st.success(f"Imported “{md(info.name)}”: {info.rows:,} rows.", icon=":material/check_circle:")
    report(ctx, info)
    target = info.linked_to or info.id
    st.page_link("app.py", label="Open it on the overview", icon=":material/arrow_forward:",
                 query_params={"dataset": target})


def report(ctx: Context, info: DatasetInfo) -> None:
    r = info.report
    cols = st.columns(3)
    cols[0].metric("Rows read", f"{r['rows_read']:,}", border=True)
    cols[1].metric("Rows imported", f"{r['rows_imported']:,}", border=True)
    cols[2].metric("Rows quarantined", f"{r['rows_quarantined']:,}", border=True)
    facts = [f"{k} ← {md(v)}" for k, v in r["mapping"].items()]
    st.caption("Mapping: " + ", ".join(facts))
    extras = []
    if r.get("timestamp_format"):
        extras.append(f"timestamps read as {r['timestamp_format']}, converted to UTC")
    if r.get("encoding"):
        extras.append(f"encoding {r['encoding']}")
    if r.get("attributes"):
        extras.append(f"{len(r['attributes'])} extra columns kept as attributes")
    if extras:
        text = "; ".join(extras)
        # Only the first letter: capitalize() would lowercase a date pattern such as %H:%M.
        st.caption(md(text[:1].upper() + text[1:] + "."))
    for note in r.get("notes", []):
        st.caption(md(note))
    if not r["reasons"]:
        st.caption("No row was quarantined.")
        return
    rows = [
        {
            "Reason": reason,
            "Rows": count,
            "Examples": "; ".join(example_text(e) for e in r["examples"].get(reason, [])),
        }
        for reason, count in r["reasons"].items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        "Quarantined rows are kept with their reason: download them, fix them in the source "
        "and upload the fixed rows."
    )
    csv_download(ctx.workspace.quarantine(info.id), f"{_slug(info.name)}_quarantine.csv",
                  "Download quarantined rows", key=f"dlq_{info.id}")


def manage_section(ctx: Context) -> None:
    datasets = ctx.workspace.datasets()
    if not datasets:
        st.info("The workspace is empty: upload a file above.")
        return
    names = {d.id: d.name for d in datasets}
    table = pd.DataFrame(
        [
            {
                "name": d.name,
                "kind": d.kind,
                "rows": d.rows,
                "quarantined": d.quarantined,
                "created (UTC)": d.created,
                "linked to": names.get(d.linked_to, "") if d.linked_to else "",
                "source file": d.source_name or "",
            }
            for d in datasets
        ]
    )
    st.dataframe(table, hide_index=True)
    by_id = {d.id: d for d in datasets}
    default = ctx.dataset.id if ctx.dataset and ctx.dataset.id in by_id else datasets[0].id
    chosen = st.selectbox(
        "Dataset to inspect or change", list(by_id), index=list(by_id).index(default),
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].kind}", key="manage_pick",
    )
    info = by_id[chosen]
    st.markdown("**Ingest report**")
    report(ctx, info)
    left, right = st.columns(2)
    with left.form(f"rename_{info.id}"):
        new_name = st.text_input("New name", value=info.name)
        if st.form_submit_button("Rename", icon=":material/edit:"):
            try:
                ctx.workspace.rename(info.id, new_name)
            except AnalysisError as error:
                show_error(error)
            else:
                data.clear_caches()
                st.rerun()
    with right.container(border=True):
        linked = ctx.workspace.linked(info.id)
        extra = f" and its {len(linked)} linked table(s)" if linked else ""
        sure = st.checkbox(f"Yes, delete “{md(info.name)}”{extra} for good", key=f"sure_{info.id}")
        if st.button("Delete", disabled=not sure, type="primary", icon=":material/delete:",
                     key=f"delete_{info.id}"):
            ctx.workspace.delete(info.id)
            data.clear_caches()
            st.session_state.pop("last_import", None)
            st.session_state["_dataset_deleted"] = True
            st.rerun()


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower() or "dataset"

