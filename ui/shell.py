"""The app shell: the list of lesson pages, in one place, for app.py and for the page guard.

Why the guard: Streamlit 1.67 decides once per server process whether the app uses the old
"pages directory" mode, and it serves the very first run of a fresh server in that mode whenever
a ``pages/`` folder exists, even though ``app.py`` calls ``st.navigation``. A learner whose first
request is a deep link (``/architecture``) would get that page run on its own: wrong navigation
labels and no page config. :func:`ensure_app_navigation`, called at the top of every page script,
notices that one run, registers the real navigation (which switches the old mode off for good)
and reruns through ``app.py``. URL paths are left to Streamlit to infer from the file names, so
both modes agree on every page's address.
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

#: (script, title, icon); the first is the home page.
LESSON_PAGES = (
    ("pages/home.py", "Home", ":material/home:"),
    ("pages/architecture.py", "Architecture", ":material/account_tree:"),
    ("pages/residual_stream.py", "Residual stream", ":material/timeline:"),
    ("pages/production.py", "Production mapping", ":material/factory:"),
    ("pages/assessment.py", "Final assessment", ":material/task_alt:"),
)


def lesson_pages() -> list:
    return [st.Page(path, title=title, icon=icon, default=(i == 0))
            for i, (path, title, icon) in enumerate(LESSON_PAGES)]


def run_app() -> None:
    from ui.assessment_ui import progress_panel

    st.set_page_config(page_title="Transformer Architecture Lab",
                       page_icon=":material/account_tree:", layout="wide")
    page = st.navigation(lesson_pages(), position="sidebar")
    with st.sidebar:
        progress_panel()
    page.run()


def ensure_app_navigation() -> None:
    """Call first in every page script: reroute a pages-directory-mode run through app.py."""
    if PagesManager.uses_pages_directory:
        st.navigation(lesson_pages(), position="hidden")  # switches the old mode off
        st.rerun()
