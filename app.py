"""Transformer Architecture Lab: entry point.

Run with ``streamlit run app.py``. Each lesson page is one script in ``pages/lesson/``;
this file only wires the navigation and the shared page config.
"""

import streamlit as st

st.set_page_config(
    page_title="Transformer Architecture Lab",
    page_icon=":material/account_tree:",
    layout="wide",
)

PAGES = [
    st.Page("pages/lesson/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page(
        "pages/lesson/architecture.py",
        title="Architecture",
        icon=":material/account_tree:",
        url_path="architecture",
    ),
]

st.navigation(PAGES, position="sidebar").run()
