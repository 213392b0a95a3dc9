"""The app shell: what every run does around the page app.py chose.

``run(pages)`` sets the page up, finds the learner and hands their loaded record to each
feature (``ui.controls`` takes the settings, ``ui.assessment_ui`` the drafts, flows and
progress), draws the sidebar (progress and saved work), asks about a resume link that names
another record, and runs the page, turning anything it did not catch into a message instead of
a traceback. It imports no page: app.py builds the navigation (``ui/navigation.py``).
"""

from __future__ import annotations

import gc
import logging
import threading

import streamlit as st

from core.validators import ValidationError
from ui import assessment_ui, controls, persistence

__all__ = ["run", "freeze_imported_objects"]


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


#: The features that keep part of a learner's record, each with ``restore(record)``.
RECORD_FEATURES = (controls, assessment_ui)


def run(pages: list) -> None:
    """One run of the app over ``pages`` (``st.Page`` objects, in navigation order)."""
    st.set_page_config(
        page_title="Transformer Architecture Lab",
        page_icon=":material/account_tree:",
        layout="wide",
    )
    page = st.navigation(pages, position="sidebar")
    freeze_imported_objects()  # app.py imported every page module before this
    log = logging.getLogger(__name__)
    try:
        record = persistence.start_session()  # who the learner is (once, or after a switch)
        if record is not None:
            for feature in RECORD_FEATURES:
                feature.restore(record)
    except Exception:  # the lesson still runs on this session alone; the log has the details
        log.exception("The learner's record could not be loaded")
    with st.sidebar:
        assessment_ui.progress_panel()
        try:
            persistence.record_panel()
        except Exception:
            log.exception("The saved-work panel could not be drawn")
            st.warning("Your saved work cannot be shown just now.", icon="💾")
    persistence.link_choice()
    try:
        page.run()
    except ValidationError as err:  # a limit or a bad value the page did not catch itself
        st.error(f"{err}", icon="⚠️")
    except Exception:  # never a traceback for a learner; the server log keeps the details
        log.exception("Unexpected error on the page %r", page.title)
        st.error(
            "Something went wrong while building this page. The details are in the "
            "server's log. Try again, or go back to the default model in the sidebar.",
            icon="⚠️",
        )
