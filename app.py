"""Transformer Architecture Lab: entry point (``streamlit run app.py``).

Two roles in one file:

- ``streamlit run app.py`` first imports this file as a module (``__name__ != "__main__"``) and
  finds ``app``: the lab served through ``st.App`` with a middleware that drops messages no
  learner needs to send and that would affect everyone (``ui/backmsg_filter.py``: a client's
  ``clear_cache`` empties every session's caches);
- each session then runs this file as its script (``__name__ == "__main__"``, as Streamlit and
  AppTest run scripts): it builds the navigation from ``ui/navigation.py``'s entries and the
  ``render()`` function of each module in ``pages/`` (URL path = the module's name), and
  ``ui/shell.py`` does the rest of the run (learner records, sidebar, the page itself).
"""

import streamlit as st


def lesson_pages() -> list:
    """One ``st.Page`` per entry of ``ui.navigation.page_entries`` (lesson order, then the
    class view), each running its module's ``render()``."""
    from pages import (
        architecture,
        assessment,
        circuits,
        home,
        instructor,
        production,
        residual_stream,
    )
    from ui.navigation import page_entries

    modules = {
        "home": home,
        "architecture": architecture,
        "residual_stream": residual_stream,
        "circuits": circuits,
        "production": production,
        "assessment": assessment,
        "instructor": instructor,
    }
    return [
        st.Page(
            modules[e.slug].render, title=e.title, icon=e.icon, url_path=e.slug, default=e.default
        )
        for e in page_entries()
    ]


if __name__ == "__main__":  # a session's run
    from ui import shell

    shell.run(lesson_pages())
else:  # imported by `streamlit run app.py`: the server
    from starlette.middleware import Middleware

    from ui.backmsg_filter import BackMsgFilter

    app = st.App(__file__, middleware=[Middleware(BackMsgFilter)])
