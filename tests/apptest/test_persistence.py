"""Learner work survives: a reload (a new session on the same address), sidebar navigation, a
server restart (a new session on the same database), another device (the code typed in), and a
database that is down. Every app here writes to the test session's private database
(tests/conftest.py sets LAB_DATA_DIR)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.assessment import bank_path, grade, load_bank
from tests.apptest.conftest import (
    ROOT,
    TIMEOUT,
    Browser,
    accept_link,
    apply_form,
    choose_random,
    open_page,
    store,
)
from tests.apptest.test_assessment_pages import answer_right, answer_wrong, sidebar_text, submit
from tests.unit.test_assessment_banks import MODEL_ANSWERS
from ui import controls, persistence
from ui.assessment_ui import FlowKeys


def open_with_link(slug: str, code: str) -> AppTest:
    """A new session (another device, or a restart) opened with a resume link."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["learner"] = code
    if slug != "home":
        at.switch_page(f"pages/{slug}.py")
    return at.run()


def reopen(slug: str, code: str) -> AppTest:
    """Another device (or a restart) continues with the resume link: the app asks, and the
    learner opens the link's record."""
    return accept_link(open_with_link(slug, code), code)


def navigate(at: AppTest, slug: str) -> AppTest:
    """Sidebar navigation within one session. ``AppTest.switch_page`` only finds pages by file
    after the first run, and ours are callables (ui/shell.py), so pick the registered page whose
    URL path is ``slug`` (the home page's is empty) the way switch_page would."""
    target = "" if slug == "home" else slug
    page_hash = next(
        h for h, info in at._registered_pages.items() if info.get("url_pathname") == target
    )
    at._page_hash = page_hash
    return at.run()


def code_of(at: AppTest) -> str:
    return at.session_state[persistence.LEARNER]["code"]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, monkeypatch):
    """The same learner-facing tests on the default SQLite file and on PostgreSQL (through
    LAB_DATABASE_URL, as a class deployment would set it)."""
    if request.param == "postgresql":
        monkeypatch.setenv("LAB_DATABASE_URL", request.getfixturevalue("postgres_url"))
    return request.param


CP1 = FlowKeys("checkpoint_1")


def test_a_new_learner_gets_a_resume_code_in_the_sidebar_and_a_row_with_the_first_save():
    before = len(store().all_learners())
    at = open_page("architecture")
    code = code_of(at)
    assert code in [c.value for c in at.sidebar.code]
    assert "learner" not in at.query_params  # the code is a secret: never in the address
    assert not at.exception and not at.error
    assert len(store().all_learners()) == before  # a visit that saves nothing adds no row
    bank = load_bank(bank_path("checkpoint_1"))
    at.radio(key=CP1.item(0, bank.items[0].id)).set_value(bank.items[0].correct).run()
    assert len(store().all_learners()) == before + 1
    assert store().learner_for_code(code) == at.session_state[persistence.LEARNER]["id"]


def test_drafts_survive_sidebar_navigation_and_a_reload(database):
    bank = load_bank(bank_path("checkpoint_1"))
    at = open_page("architecture")
    essay = next(i for i in bank.items if i.type == "essay")
    first = bank.items[0]
    at.radio(key=CP1.item(0, first.id)).set_value(first.correct)
    at.text_area(key=CP1.item(0, essay.id)).set_value(MODEL_ANSWERS[essay.id])
    at.run()  # not submitted: only drafts
    code = code_of(at)
    # Sidebar navigation: the checkpoint is not drawn on the home page, then drawn again.
    navigate(at, "home")
    assert not at.radio  # the checkpoint's widgets are gone from this run
    navigate(at, "architecture")
    assert at.radio(key=CP1.item(0, first.id)).value == first.correct
    assert at.text_area(key=CP1.item(0, essay.id)).value == MODEL_ANSWERS[essay.id]
    # A reload (or a restart: the session is new, only the database remains).
    again = reopen("architecture", code)
    assert code_of(again) == code
    assert again.radio(key=CP1.item(0, first.id)).value == first.correct
    assert again.text_area(key=CP1.item(0, essay.id)).value == MODEL_ANSWERS[essay.id]


def test_a_submitted_checkpoint_and_its_progress_survive_a_reload(database):
    bank = load_bank(bank_path("checkpoint_1"))
    at = open_page("architecture")
    answer_wrong(at, bank, CP1.prefix(0))
    at = submit(at, "Submit answers")
    answer_right(at, bank, CP1.prefix(0))  # second attempt needs "Try again" first
    at = submit(at, "Try again")
    answer_right(at, bank, CP1.prefix(1))
    at = submit(at, "Submit answers")
    code = code_of(at)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(at)

    again = reopen("architecture", code)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(again)
    assert any("Passed: 100%" in s.value for s in again.success)
    # The record holds both attempts, as graded, and the answers behind them.
    learner = again.session_state[persistence.LEARNER]["id"]
    attempts = store().attempts(learner, "checkpoint_1")
    assert len(attempts) == 2
    assert [a.passed for a in attempts] == [False, True]
    assert attempts[1].score == grade(bank, attempts[1].answers).score == 1.0


def test_the_final_assessments_review_step_survives_a_reload(database):
    bank = load_bank(bank_path("summative"))
    at = open_page("assessment")
    answer_right(at, bank, FlowKeys("summative").prefix(0))
    at = submit(at, "Review my answers")
    assert any(h.value == "Review your answers" for h in at.header)
    again = reopen("assessment", code_of(at))
    assert any(h.value == "Review your answers" for h in again.header)
    again = submit(again, "Submit final answers")
    assert any("Passed" in s.value for s in again.success)


def test_accepted_model_settings_survive_a_reload(database):
    at = apply_form(choose_random(open_page("architecture")))
    label = at.session_state[controls.SETTINGS_KEY].key.label
    assert label.startswith("random weights")
    again = reopen("architecture", code_of(at))
    assert again.session_state[controls.SETTINGS_KEY].key.label == label
    assert (
        again.session_state[controls.SETTINGS_KEY].token_ids
        == at.session_state[controls.SETTINGS_KEY].token_ids
    )


def test_a_bad_code_in_the_address_is_explained_and_a_new_record_started():
    before = len(store().all_learners())
    at = open_with_link("home", "NOT-A-CODE")
    notes = " ".join(i.value for i in at.sidebar.info)
    assert "The resume code in the address was not used" in notes
    assert "ABCD-EFGH-JKMN" in notes
    assert "learner" not in at.query_params
    assert code_of(at) != "NOT-A-CODE"
    assert not at.exception
    assert len(store().all_learners()) == before


def test_another_device_resumes_by_typing_the_code(database):
    bank = load_bank(bank_path("checkpoint_1"))
    first = open_page("architecture")
    answer_right(first, bank, CP1.prefix(0))
    first = submit(first, "Submit answers")
    other = open_page("architecture")  # another device: a fresh record
    assert "Checkpoint 1 (Architecture): not attempted" in sidebar_text(other)
    other.text_input(key=persistence.CODE_INPUT).set_value(code_of(first).lower())
    other = submit(other, "Resume")
    assert code_of(other) == code_of(first)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(other)
    other.text_input(key=persistence.CODE_INPUT).set_value("ABCD-EFGH-JKMN")
    other = submit(other, "Resume")
    assert "No learner has that resume code" in " ".join(i.value for i in other.sidebar.info)
    assert code_of(other) == code_of(first)  # a wrong code changes nothing


def test_an_instructors_review_shows_in_the_learners_result(database):
    bank = load_bank(bank_path("checkpoint_1"))
    at = open_page("architecture")
    answer_wrong(at, bank, CP1.prefix(0))
    at = submit(at, "Submit answers")
    essay = next(i for i in bank.items if i.type == "essay")
    attempt = store().attempts(at.session_state[persistence.LEARNER]["id"], "checkpoint_1")[-1]
    store().save_review(attempt.id, essay.id, 1.0, "teacher@example.org", "Fair point.")
    again = reopen("architecture", code_of(at))
    text = " ".join(m.value for m in again.markdown)
    assert "Reviewed by your instructor, who changed the automatic score" in text


def test_a_database_that_is_down_leaves_the_lesson_working(monkeypatch):
    monkeypatch.setenv(
        "LAB_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    )
    bank = load_bank(bank_path("checkpoint_1"))
    at = open_page("architecture")
    warnings = " ".join(w.value for w in at.sidebar.warning)
    assert "Your work could not be saved: the database cannot be reached" in warnings
    answer_right(at, bank, CP1.prefix(0))
    at = submit(at, "Submit answers")
    assert any("Passed: 100%" in s.value for s in at.success)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(at)
    assert not at.exception


def test_a_signed_in_learner_is_their_account_on_every_device(monkeypatch):
    """With Streamlit's sign-in configured, the account is the learner: no resume code, and a
    second session signed in to the same account (another device) gets the same record."""
    monkeypatch.setattr(
        persistence, "signed_in_identity", lambda: ("ada@example.org", "Ada Lovelace")
    )
    bank = load_bank(bank_path("checkpoint_1"))
    at = open_page("architecture")
    who = at.session_state[persistence.LEARNER]
    assert who["identity"] == "ada@example.org" and who["code"] is None
    assert "learner" not in at.query_params
    assert "Signed in as **ada@example.org**" in " ".join(m.value for m in at.sidebar.markdown)
    answer_right(at, bank, CP1.prefix(0))
    at = submit(at, "Submit answers")
    other = open_page("architecture")
    assert other.session_state[persistence.LEARNER]["id"] == who["id"]
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar_text(other)


def test_two_tabs_of_one_learner_keep_both_tabs_work(database, monkeypatch):
    """Two tabs of one browser (the cookie): each submits a different checkpoint and drafts a
    different answer; a third tab (a reload) has all of it."""
    cp2 = FlowKeys("checkpoint_2")
    bank1, bank2 = load_bank(bank_path("checkpoint_1")), load_bank(bank_path("checkpoint_2"))
    browser = Browser(monkeypatch)
    first = browser.open("architecture")
    second = browser.open("residual_stream")
    assert code_of(second) == code_of(first)
    answer_right(first, bank1, CP1.prefix(0))
    answer_wrong(second, bank2, cp2.prefix(0))
    first = submit(first, "Submit answers")
    second = submit(second, "Submit answers")
    essay2 = next(i for i in bank2.items if i.type == "essay")
    assert second.text_area(key=cp2.item(0, essay2.id)).value  # the wrong answer's essay text
    third = browser.open("residual_stream")
    sidebar = sidebar_text(third)
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar
    assert "Checkpoint 2 (Residual stream): not passed yet" in sidebar
    assert (
        third.text_area(key=cp2.item(0, essay2.id)).value
        == second.text_area(key=cp2.item(0, essay2.id)).value
    )
