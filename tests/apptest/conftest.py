"""Shared helpers for the AppTests: every page is run through app.py's navigation, as a learner
reaches it. Pages are functions handed to ``st.navigation`` with the module's name as URL path
(ui/shell.py); ``AppTest.switch_page("pages/<slug>.py")`` before the first run selects the page
of that name."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 180


def open_page(slug: str, *, timeout: float = TIMEOUT) -> AppTest:
    """Run app.py on the page ``slug`` and return the AppTest after its first run."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=timeout)
    if slug != "home":
        at.switch_page(f"pages/{slug}.py")
    return at.run()


def apply_form(at: AppTest) -> AppTest:
    """Press the sidebar form's Apply button and rerun."""
    next(b for b in at.button if b.label == "Apply").click()
    return at.run()
