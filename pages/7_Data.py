"""Data: upload files, check the mapping and the ingest report, manage datasets."""

import streamlit as st

from ui import datasets, definitions, server_files, upload
from ui.sidebar import finish, page_context

ctx = page_context("Data", ":material/upload_file:")
st.title("Data", anchor=False)
st.caption(
    "Upload journey events, feedback and customer tables. Every row read is either imported "
    "or quarantined with its reason; nothing is dropped silently. Datasets are saved in the "
    "workspace and survive a restart."
)
upload.import_summary(ctx)
TABS = {"upload": "Upload", "definitions": "Definitions", "datasets": "Datasets"}
wanted = (ctx.url.get("tab") or ["upload"])[0]
upload_tab, definitions_tab, datasets_tab = st.tabs(
    list(TABS.values()), default=TABS.get(wanted, "Upload")
)
with upload_tab:
    upload.upload_section(ctx)
    server_files.server_section(ctx)
with definitions_tab:
    st.caption(
        "What counts as conversion and churn, the order of the stages, the segment column and "
        "which channels are online or offline. Set once per dataset; every view uses them."
    )
    definitions.editor(ctx)
with datasets_tab:
    datasets.manage_section(ctx)
finish(ctx, {"tab": [wanted] if wanted in TABS and wanted != "upload" else []})
