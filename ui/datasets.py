"""Data page: the datasets in this workspace — the table, inspect, rename, delete (asked first)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analysis.naming import clean_name, unique_name
from analysis.schema import AnalysisError
from analysis.store import DatasetInfo
from ui import data, tables
from ui.sidebar import Context
from ui.text import md
from ui.upload import PICK_KEY, report, show_error

KIND_NAMES = {"events": "Journey events", "feedback": "Feedback", "customers": "Customers"}
_LABELS = {
    "name": "Name",
    "kind": "Holds",
    "rows": "Rows imported",
    "quarantined": "Rows quarantined",
    "created": "Imported (UTC)",
    "linked_to": "Linked to",
    "source": "Source file",
}


def manage_section(ctx: Context) -> None:
    notice = st.session_state.pop("_datasets_notice", None)
    if notice:
        st.info(md(notice), icon=":material/info:")
    datasets = ctx.workspace.datasets()
    if not datasets:
        st.info("The workspace is empty: upload a file above.")
        return
    datasets_table(datasets)
    by_id = {d.id: d for d in datasets}
    if st.session_state.get(PICK_KEY) not in by_id:
        st.session_state[PICK_KEY] = (
            ctx.dataset.id if ctx.dataset and ctx.dataset.id in by_id else datasets[0].id
        )
    chosen = st.selectbox(
        "Dataset to inspect or change", list(by_id), key=PICK_KEY, on_change=_ask, args=(None,),
        format_func=lambda i: f"{by_id[i].name} · {by_id[i].kind}",
    )
    info = by_id[chosen]
    if chosen == st.session_state.get("last_import"):
        st.caption("Its ingest report is shown at the top of the page.")
    else:
        st.markdown("**Ingest report**")
        report(ctx, info)
    left, right = st.columns(2)
    with left:
        _rename_form(ctx, info, datasets)
    with right.container(border=True):
        _delete(ctx, info)


def datasets_table(datasets: list[DatasetInfo]) -> None:
    """One row per dataset, under human labels, counts with thousands separators."""
    names = {d.id: d.name for d in datasets}
    table = pd.DataFrame(
        [
            {
                "name": d.name,
                "kind": KIND_NAMES[d.kind],
                "rows": d.rows,
                "quarantined": d.quarantined,
                "created": f"{d.created:%Y-%m-%d %H:%M}",
                "linked_to": names.get(d.linked_to, "") if d.linked_to else "",
                "source": d.source_name or "",
            }
            for d in datasets
        ]
    ).astype({"rows": "int64", "quarantined": "int64"})
    tables.show(table, _LABELS)


def _rename_form(ctx: Context, info: DatasetInfo, datasets: list[DatasetInfo]) -> None:
    with st.form(f"rename_{info.id}"):
        typed = st.text_input("New name", value=info.name)
        if not st.form_submit_button("Rename", icon=":material/edit:"):
            return
    name = unique_name(typed, [d.name for d in datasets if d.id != info.id])
    try:
        ctx.workspace.rename(info.id, name)
    except AnalysisError as error:
        show_error(error)
        return
    if name != clean_name(typed):
        st.session_state["_datasets_notice"] = (
            f"A dataset called “{clean_name(typed)}” already exists, so this one is now "
            f"called “{name}”."
        )
    data.clear_caches()
    st.rerun()


def delete_question(info: DatasetInfo, linked: list[DatasetInfo]) -> str:
    """What a delete removes, in words (Markdown-escaped): the dataset and its linked tables."""

    def one(d: DatasetInfo) -> str:
        return f"“{md(d.name)}” ({d.kind}, {d.rows:,} rows)"

    text = f"Delete {one(info)}"
    if linked:
        items = [one(d) for d in linked]
        listed = items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
        text += f" and the {'table' if len(items) == 1 else 'tables'} linked to it: {listed}"
    return text + "? This cannot be undone."


def _delete(ctx: Context, info: DatasetInfo) -> None:
    """A Delete button that asks first, naming everything that goes."""
    linked = ctx.workspace.linked(info.id)
    if st.session_state.get("_confirm_delete") != info.id:
        if linked:
            st.caption(f"Deleting it also deletes the {len(linked)} table(s) linked to it.")
        st.button("Delete…", key=f"delete_{info.id}", icon=":material/delete:",
                  on_click=_ask, args=(info.id,))
        return
    st.warning(delete_question(info, linked), icon=":material/warning:")
    buttons = st.container(horizontal=True)
    clicked = buttons.button("Delete for good", type="primary", icon=":material/delete_forever:",
                             key=f"delete_yes_{info.id}")
    buttons.button("Cancel", key=f"delete_no_{info.id}", on_click=_ask, args=(None,))
    if not clicked:
        return
    try:
        deleted = ctx.workspace.delete(info.id)
    except AnalysisError as error:
        show_error(error)
        return
    data.clear_caches()
    st.session_state.pop("_confirm_delete", None)
    if st.session_state.get("last_import") in deleted:
        st.session_state.pop("last_import", None)
    st.session_state["_dataset_deleted"] = True
    st.session_state["_datasets_notice"] = (
        f"Deleted “{info.name}”" + (f" and {len(linked)} linked table(s)." if linked else ".")
    )
    st.rerun()


def _ask(dataset_id: str | None) -> None:
    st.session_state["_confirm_delete"] = dataset_id
