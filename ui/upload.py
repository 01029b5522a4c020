"""Data page blocks: upload, column mapping, import and its report.

After an import the upload is cleared (the uploader gets a new key) and the new dataset is
selected in the sidebar and in the Data page's dataset picker. A file imported before (same
sha256) is only imported again once the user confirms; names stay unique ("shop (2)").
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis import ingest
from analysis.ingest.report import example_text
from analysis.naming import clean_name, unique_name
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
#: The uploader's first key; later ones add the number of imports done in the session.
UPLOAD_KEY = "upload"
#: The Data page's "dataset to inspect" picker, set to a dataset just imported.
PICK_KEY = "manage_pick"
#: Events CSV/TSV files above this size are previewed from their first rows and imported
#: chunk by chunk (``ingest.import_csv_stream``), with a progress bar.
STREAM_BYTES = 20 * 1024 * 1024
STREAM_TYPES = {".csv", ".tsv", ".txt", ".tab"}


def uploader_key() -> str:
    """The file uploader's current key: a new key after each import clears the upload."""
    done = st.session_state.get("_upload_round", 0)
    return f"{UPLOAD_KEY}_{done}" if done else UPLOAD_KEY


def _clear_upload() -> None:
    st.session_state["_upload_round"] = st.session_state.get("_upload_round", 0) + 1
    st.session_state.pop("_reimport", None)


def select_dataset(info: DatasetInfo) -> None:
    """Show ``info`` on the next run: in the sidebar (an events dataset stands for the tables
    linked to it) and in the Data page's picker."""
    st.session_state["_switch_dataset"] = info.linked_to or info.id
    st.session_state[PICK_KEY] = info.id


def show_error(error: AnalysisError) -> None:
    st.error(f"**{md(error.problem)}**\n\n{md(error.hint)}", icon=":material/error:")


def upload_section(ctx: Context) -> None:
    kind = st.radio(
        "What does the file hold?", list(KIND_LABELS), format_func=KIND_LABELS.get,
        horizontal=True, key="up_kind",
    )
    upload = st.file_uploader(
        "Upload a CSV, TSV, Parquet, Excel (.xlsx) or JSON file", type=FILE_TYPES,
        key=uploader_key(),
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
    streamed = (kind == "events" and len(raw) > STREAM_BYTES
                and Path(upload.name).suffix.lower() in STREAM_TYPES)
    try:
        df = (_read_head if streamed else data.read_upload)(digest, upload.name, raw)
    except AnalysisError as error:
        show_error(error)
        return
    _preview(df, streamed=streamed)
    if _imported_before(ctx, digest, kind):
        return
    mapping_form(ctx, df, kind, digest, upload.name, raw if streamed else None)


@st.cache_data(max_entries=4, ttl=1800, show_spinner="Reading the first rows…")
def _read_head(digest: str, filename: str, _data: bytes) -> pd.DataFrame:
    """The first 10,000 rows of a large upload, cached on its sha256 ``digest``."""
    df, attrs = ingest.read_head(io.BytesIO(_data), filename=filename)
    df.attrs.update(attrs)  # what read_table gives, for the preview
    return df


def _preview(df: pd.DataFrame, *, streamed: bool = False) -> None:
    attrs = df.attrs
    rows = f"first {len(df):,} rows (all are read on import)" if streamed else f"{len(df):,} rows"
    details = [rows, f"{df.shape[1]} columns", str(attrs.get("format", "")).upper()]
    if attrs.get("encoding"):
        details.append(f"encoding {attrs['encoding']}")
    if attrs.get("delimiter"):
        details.append(f"delimiter {attrs['delimiter']!r}")
    st.caption(" · ".join(details))
    for note in attrs.get("notes") or []:
        st.info(md(note), icon=":material/info:")
    st.dataframe(df.head(20), hide_index=True, height=240)


def _imported_before(ctx: Context, digest: str, kind: str) -> bool:
    """True while the user has not yet said whether to import an already imported file again."""
    previous = ctx.workspace.find_by_checksum(digest, kind)
    if previous is None or st.session_state.get("_reimport") == digest:
        return False
    st.warning(
        f"This file was already imported as “{md(previous.name)}” on "
        f"{previous.created:%Y-%m-%d %H:%M} UTC. Import it again?",
        icon=":material/content_copy:",
    )
    buttons = st.container(horizontal=True)
    buttons.button("Import it again", key="reimport_yes", icon=":material/content_copy:",
                   on_click=_confirm_reimport, args=(digest,))
    buttons.button(f"Keep “{md(previous.name)}” and open it", key="reimport_no",
                   icon=":material/undo:", on_click=_open_instead, args=(previous,))
    return True


def _confirm_reimport(digest: str) -> None:
    st.session_state["_reimport"] = digest


def _open_instead(info: DatasetInfo) -> None:
    select_dataset(info)
    _clear_upload()


def mapping_form(ctx: Context, df: pd.DataFrame, kind: str, digest: str, filename: str,
                 source: bytes | None = None, register=None):
    """The mapping form; on submit, imports ``df`` (or the streamed ``source``), or calls
    ``register(chosen, name, link)`` for data that stays where it is."""
    guessed = ingest.guess_mapping(df, kind)
    columns = [str(c) for c in df.columns]
    events = [d for d in ctx.workspace.datasets("events")]
    with st.form(f"mapping_{digest[:12]}_{kind}"):
        st.subheader("Column mapping", anchor=False)
        st.caption(
            "We guessed which column holds what. Fix anything wrong, then import. "
            "Columns marked * are required; unmapped columns are kept as attributes."
        )
        taken = [d.name for d in ctx.workspace.datasets()]
        name = st.text_input(
            "Dataset name", value=unique_name(Path(filename).stem.replace("_", " "), taken),
            help="Names are unique: a name already taken gets a number, e.g. “shop (2)”.",
        )
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
        submitted = st.form_submit_button("Import" if register is None else "Register in place",
                                          type="primary", icon=":material/upload:")
    if submitted and register is not None:
        register(chosen, name, link)
    elif submitted:
        _import(ctx, df, kind, chosen, name, digest, filename, link, source)


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


def _import(ctx, df, kind, chosen, name, digest, filename, link, source=None) -> None:
    """Import the upload; ``source``: the bytes of a large CSV, imported chunk by chunk."""
    try:
        with st.status("Importing…", expanded=source is not None) as status:
            mapping = ColumnMapping.from_dict(kind, chosen)
            stored = unique_name(name, [d.name for d in ctx.workspace.datasets()])
            if source is not None:
                status.update(label="Reading, checking and saving every row…")
                info = _import_streamed(ctx, source, mapping, stored, digest, filename, link)
            else:
                status.update(label="Checking every row…")
                result = ingest.prepare(df, mapping, kind)
                status.update(label="Saving to the workspace…")
                info = ctx.workspace.import_result(
                    result, name=stored, source_checksum=digest, source_name=filename,
                    linked_to=link,
                )
            status.update(label="Imported", state="complete")
    except AnalysisError as error:
        show_error(error)
        return
    data.clear_caches()
    st.session_state["last_import"] = info.id
    st.session_state["_import_note"] = "" if stored == clean_name(name) else (
        f"A dataset called “{clean_name(name)}” already exists, so this one is called "
        f"“{info.name}”."
    )
    select_dataset(info)
    _clear_upload()
    st.rerun()


def _import_streamed(ctx, source, mapping, name, digest, filename, link) -> DatasetInfo:
    """A large CSV imported chunk by chunk, with a bar of rows read and quarantined so far."""
    bar = st.progress(0.0, text="Reading the file…")

    def show(p: ingest.Progress) -> None:
        bar.progress(min(p.bytes_read / max(p.total_bytes, 1), 1.0),
                     text=f"{p.rows_read:,} rows read, {p.rows_quarantined:,} quarantined")

    return ingest.import_csv_stream(
        ctx.workspace, io.BytesIO(source), mapping, name=name, progress=show,
        source_checksum=digest, source_name=filename, linked_to=link,
    )


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
    if st.session_state.get("_import_note"):
        st.info(md(st.session_state["_import_note"]), icon=":material/info:")
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


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower() or "dataset"

