"""Data: upload files, check the mapping and the ingest report, manage datasets."""

import streamlit as st

from ui import upload
from ui.sidebar import finish, page_context

ctx = page_context("Data", ":material/upload_file:")
st.title("Data", anchor=False)
st.caption(
    "Upload journey events, feedback and customer tables. Every row read is either imported "
    "or quarantined with its reason; nothing is dropped silently. Datasets are saved in the "
    "workspace and survive a restart."
)
upload.import_summary(ctx)
st.header("Upload", anchor=False)
upload.upload_section(ctx)
st.header("Datasets in this workspace", anchor=False)
upload.manage_section(ctx)
finish(ctx)
