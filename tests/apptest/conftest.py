"""Shared helpers for the AppTests: every page is run through app.py's navigation, as a learner
reaches it. Pages are functions handed to ``st.navigation`` with the module's name as URL path
(ui/shell.py); ``AppTest.switch_page("pages/<slug>.py")`` before the first run selects the page
of that name."""

from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from core.store import LearnerStore, default_url, shared_store

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


#: The spec's random model (vocabulary 1,000) and its example ids: what the tests of the
#: random-weights controls run on.
SPEC_RANDOM = {"n_layer": 4, "n_head": 8, "n_embd": 256, "vocab": 1000, "n_positions": 128}
SPEC_IDS = "1, 15, 27, 89, 156, 234, 445, 567"


def choose_random(at: AppTest, ids: str = SPEC_IDS, **sizes) -> AppTest:
    """Fill the sidebar form for random weights of the spec's sizes (``sizes`` overrides, by
    widget-key suffix) on typed ids; the caller presses Apply."""
    from ui.controls import RANDOM, SOURCE_TYPED

    at.selectbox(key="lab_w_model").set_value(RANDOM)
    for name, value in {**SPEC_RANDOM, **sizes}.items():
        at.number_input(key=f"lab_w_{name}").set_value(value)
    at.radio(key="lab_w_source").set_value(SOURCE_TYPED)
    at.text_area(key="lab_w_tokens").set_value(ids)
    return at


def open_random(slug: str, ids: str = SPEC_IDS, **sizes) -> AppTest:
    """The page ``slug`` after applying the spec's random model on ``ids``."""
    at = apply_form(choose_random(open_page(slug), ids, **sizes))
    assert not at.exception and not at.error, [e.value for e in at.error]
    return at


def store() -> LearnerStore:
    """The same store (engine, migrated schema) the apps in this process use."""
    return shared_store(os.environ.get("LAB_DATABASE_URL") or default_url())


class Browser:
    """One browser: its cookie jar holds what the app's cookie script would have set (the
    signed code under this database's cookie name), and every new tab sends it."""

    def __init__(self, monkeypatch):
        self.cookies: dict[str, str] = {}
        self._mp = monkeypatch

    @property
    def cookie(self) -> str | None:
        """The app's cookie as this browser holds it."""
        from ui import persistence

        return self.cookies.get(persistence.cookie_name(store()))

    @cookie.setter
    def cookie(self, value: str) -> None:
        from ui import persistence

        self.cookies[persistence.cookie_name(store())] = value

    def open(self, slug: str, link: str | None = None) -> AppTest:
        """A new tab on page ``slug`` (with ``?learner=link``), sending this browser's cookie."""
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
        if link is not None:
            at.query_params["learner"] = link
        if slug != "home":
            at.switch_page(f"pages/{slug}.py")
        return self.run(at)

    def open_link(self, slug: str, code: str) -> AppTest:
        """Open a resume link and choose to open its record (the app asks first)."""
        return accept_link(self.open(slug, link=code), code, self)

    def click(self, at: AppTest, label: str) -> AppTest:
        next(b for b in at.button if b.label == label).click()
        return self.run(at)

    def run(self, at: AppTest) -> AppTest:
        from ui import persistence

        self._mp.setattr(persistence, "_cookie_raw", lambda name: self.cookies.get(name))
        at.run()
        set_code = at.session_state.get(persistence.COOKIE_SET)
        if set_code:
            self.cookies.pop(persistence.LEGACY_COOKIE, None)
            self.cookie = persistence.cookie_value(store(), set_code)
        return at


def accept_link(at: AppTest, code: str, browser: Browser | None = None) -> AppTest:
    """Press "Open the work of ABCD-…" on the question a resume link raises."""
    from core.store import normalise_code

    label = f"Open the work of {normalise_code(code)[:4]}-…"
    button = next((b for b in at.button if b.label == label), None)
    assert button is not None, [b.label for b in at.button]
    button.click()
    return browser.run(at) if browser is not None else at.run()
