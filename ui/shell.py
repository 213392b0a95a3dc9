"""The app shell: the navigation built from ``core.lesson``, for app.py.

Every lesson page is a module in ``pages/`` with a ``render()`` function; app.py hands those
functions to ``st.navigation`` (URL path = the module's name), so pages, objectives and
checkpoints are defined once, in ``core.lesson.LESSON``.

Why :func:`reroute_to_app`: when a ``pages/`` folder sits next to the main script, Streamlit
serves the very first run of a fresh server in its legacy pages-directory mode and executes the
requested ``pages/<name>.py`` as a script (as ``__main__``), not app.py. Each page module ends
with ``if __name__ == "__main__": reroute_to_app()``: that one run registers the real navigation
(which ends the legacy mode for good) and reruns through app.py at the same URL. Imported by
app.py, the modules only define ``render``. Public API only.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading

import streamlit as st

from core.lesson import LESSON
from core.validators import ValidationError
from ui import persistence
from ui.assessment_ui import progress_panel

__all__ = ["lesson_pages", "run_app", "reroute_to_app", "INSTRUCTOR_TITLE"]

#: The navigation label of the instructor's class view (after the lesson's pages).
INSTRUCTOR_TITLE = "Class view (instructors)"


def lesson_pages() -> list:
    """One ``st.Page`` per lesson page, in lesson order (the first is the home page), then the
    instructor's class view."""
    pages = []
    for i, page in enumerate(LESSON.pages):
        module = importlib.import_module(f"pages.{page.slug}")
        pages.append(st.Page(module.render, title=page.title, icon=page.icon,
                             url_path=page.slug, default=(i == 0)))
    # Not a lesson page: the instructor's class view, last (it asks for the instructor's
    # password or sign-in before showing anything).
    instructor = importlib.import_module("pages.instructor")
    pages.append(st.Page(instructor.render, title=INSTRUCTOR_TITLE,
                         icon=":material/school:", url_path="instructor"))
    return pages


_FROZEN = threading.Event()


def freeze_imported_objects() -> None:
    """Once per process, after the lesson's modules are imported: move every object that exists
    now (modules, classes, functions of torch, transformers, pandas, Altair and the app) into
    the garbage collector's permanent generation.

    Streamlit runs a full ``gc.collect()`` after every script run (``runner.postScriptGC``), and
    a full collection walks every object the collector tracks: about 0.3 million after these
    imports, 0.14 s on this machine, paid again on every interaction, fragment runs included.
    Frozen objects are skipped by that walk; objects made later (sessions, results, anything a
    run throws away) are still collected as before. Imported modules live as long as the
    process, so freezing them holds on to nothing that would otherwise be freed."""
    if _FROZEN.is_set():
        return
    _FROZEN.set()
    gc.collect()  # what is already garbage goes first, so it is not frozen
    gc.freeze()


def run_app() -> None:
    st.set_page_config(page_title="Transformer Architecture Lab",
                       page_icon=":material/account_tree:", layout="wide")
    page = st.navigation(lesson_pages(), position="sidebar")
    freeze_imported_objects()  # after lesson_pages() has imported every page module
    persistence.start_session()  # who the learner is, and their saved work (once per session)
    with st.sidebar:
        progress_panel()
        persistence.record_panel()
    try:
        page.run()
    except ValidationError as err:  # a limit or a bad value the page did not catch itself
        st.error(f"{err}", icon="⚠️")
    except Exception:  # never a traceback for a learner; the server log keeps the details
        logging.getLogger(__name__).exception("Unexpected error on the page %r", page.title)
        st.error("Something went wrong while building this page. The details are in the "
                 "server's log. Try again, or go back to the default model in the sidebar.",
                 icon="⚠️")


def reroute_to_app() -> None:
    """A page module run as a script (legacy pages-directory mode): rerun through app.py."""
    st.navigation(lesson_pages(), position="hidden")  # ends the legacy mode for this server
    st.rerun()
