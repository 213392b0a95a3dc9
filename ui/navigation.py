"""The app's pages as data (slug, title, icon), and the reroute out of Streamlit's legacy mode.

``app.py`` builds ``st.navigation`` from these entries and the page modules' ``render``
functions; this module imports no page and not the shell, so a page module can reach it.

Why :func:`reroute_to_app`: when a ``pages/`` folder sits next to the main script, Streamlit
(1.67) serves the very first run of a fresh server in its legacy pages-directory mode and
executes the requested ``pages/<name>.py`` as a script (as ``__main__``), not app.py. Each page
module ends with ``if __name__ == "__main__": reroute_to_app()``: that run registers a
navigation with the same URL paths (which ends the legacy mode for good; a page's identity is
the hash of its URL path, so these placeholders and app.py's real pages are the same pages) and
reruns through app.py at the same URL. Public API only.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from core.lesson import LESSON

__all__ = ["PageEntry", "page_entries", "reroute_to_app", "INSTRUCTOR_SLUG", "INSTRUCTOR_TITLE"]

#: The instructor's class view: not a lesson page, listed last.
INSTRUCTOR_SLUG = "instructor"
INSTRUCTOR_TITLE = "Class view (instructors)"
INSTRUCTOR_ICON = ":material/school:"


@dataclass(frozen=True)
class PageEntry:
    slug: str  # the module in pages/ and the URL path
    title: str
    icon: str
    default: bool = False


def page_entries() -> list[PageEntry]:
    """The lesson's pages in order (the first is the home page), then the class view."""
    entries = [
        PageEntry(p.slug, p.title, p.icon, default=(i == 0)) for i, p in enumerate(LESSON.pages)
    ]
    entries.append(PageEntry(INSTRUCTOR_SLUG, INSTRUCTOR_TITLE, INSTRUCTOR_ICON))
    return entries


def _placeholder() -> None:  # never runs: the rerun below goes through app.py
    pass


def reroute_to_app() -> None:
    """A page module run as a script (legacy pages-directory mode): rerun through app.py."""
    st.navigation(
        [
            st.Page(_placeholder, title=e.title, icon=e.icon, url_path=e.slug, default=e.default)
            for e in page_entries()
        ],
        position="hidden",
    )
    st.rerun()
