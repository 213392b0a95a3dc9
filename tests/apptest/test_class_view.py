"""The instructor's class view: closed to learners, open with the password, showing each
learner's attempts, and reviews that change what the learner then sees."""

from __future__ import annotations

import logging

import pytest

from core.assessment import bank_path, load_bank
from core.store import LearnerStore, default_url
from core.throttle import PASSWORD_PER_SESSION, PASSWORD_SERVER, Throttle
from tests.apptest.conftest import open_page
from tests.apptest.test_assessment_pages import answer_right, answer_wrong, submit
from tests.apptest.test_persistence import code_of, reopen
from ui import instructor_ui, persistence
from ui.assessment_ui import FlowKeys

PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_server_throttle(monkeypatch):
    """Each test starts with a server that has seen no wrong password."""
    monkeypatch.setattr(instructor_ui, "SERVER_PASSWORD", Throttle(PASSWORD_SERVER))


def everything_shown(at) -> str:
    return " ".join(
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [e.value for e in at.error]
        + [i.value for i in at.info]
    )


def test_the_class_view_is_off_until_an_instructor_configures_it(monkeypatch):
    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    at = open_page("instructor")
    assert "The class view is off in this copy of the lab" in everything_shown(at)
    assert not at.tabs and not at.main.text_input
    assert not at.exception


def test_a_wrong_password_is_refused_and_shows_nothing(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    at = open_page("instructor")
    at.text_input(key=instructor_ui.PASSWORD_INPUT).set_value("guess")
    at = submit(at, "Open the class view")
    assert "That is not the instructor password" in everything_shown(at)
    assert not at.tabs and not at.dataframe


def test_the_instructor_sees_attempts_and_reviews_an_essay(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    bank = load_bank(bank_path("checkpoint_1"))
    # A learner with a name submits a wrong checkpoint 1.
    learner = open_page("architecture")
    learner.text_input(key=persistence.NAME_INPUT).set_value("Grace Hopper")
    learner = submit(learner, "Save name")
    answer_wrong(learner, bank, FlowKeys("checkpoint_1").prefix(0))
    learner = submit(learner, "Submit answers")
    learner_id = learner.session_state[persistence.LEARNER]["id"]
    essay = next(i for i in bank.items if i.type == "essay")

    at = open_page("instructor")
    at.text_input(key=instructor_ui.PASSWORD_INPUT).set_value(PASSWORD)
    at = submit(at, "Open the class view")
    assert [t.label for t in at.tabs] == [
        "Overview",
        "Learners",
        "Questions",
        "Essays to review",
        "Export",
        "Check a question bank",
    ]
    tables = [df.value for df in at.dataframe]
    attempts = tables[1]  # pass-rate table is shown by chart_with_table; then latest attempts
    mine = attempts[attempts["learner id"] == learner_id]
    assert list(mine["learner"]) == [f"Grace Hopper (#{learner_id})"]
    assert list(mine["passed"]) == ["no"]
    # Review the essay: full marks.
    attempt_id = int(mine["attempt"].iloc[0])
    key = f"lab_review_{attempt_id}_{essay.id}"
    at.number_input(key=f"{key}_score").set_value(100.0)
    at.text_input(key=f"{key}_note").set_value("A fair answer in plain words.")
    at.button(key=f"{key}_save").click()
    at = at.run()
    assert any("Saved: 100% for this answer" in s.value for s in at.success)
    store = LearnerStore.from_url(default_url())
    assert store.reviews([attempt_id]) == {
        attempt_id: {essay.id: (1.0, "A fair answer in plain words.")}
    }
    # The learner's result now shows the reviewed score and says so.
    again = reopen("architecture", code_of(learner))
    shown = " ".join(m.value for m in again.markdown)
    assert "Reviewed by your instructor, who changed the automatic score" in shown
    # And the instructor can take the review back.
    at.button(key=f"{key}_remove").click()
    at = at.run()
    assert store.reviews([attempt_id]) == {}


def test_a_passing_learner_counts_in_the_pass_rate(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    bank = load_bank(bank_path("checkpoint_1"))
    learner = open_page("architecture")
    answer_right(learner, bank, FlowKeys("checkpoint_1").prefix(0))
    learner = submit(learner, "Submit answers")
    learner_id = learner.session_state[persistence.LEARNER]["id"]
    at = open_page("instructor")
    at.text_input(key=instructor_ui.PASSWORD_INPUT).set_value(PASSWORD)
    at = submit(at, "Open the class view")
    learners = next(df.value for df in at.dataframe if "checkpoint_1 best" in df.value.columns)
    row = learners[learners["learner id"] == learner_id]
    assert list(row["checkpoint_1 passed"]) == ["yes"]
    assert list(row["checkpoint_1 best"]) == [1.0]


def test_a_signed_in_instructor_listed_in_secrets_needs_no_password(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.apptest.conftest import ROOT, TIMEOUT

    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    monkeypatch.setattr(
        persistence, "signed_in_identity", lambda: ("Teacher@Example.org", "The teacher")
    )
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets["instructor"] = {"emails": ["teacher@example.org"]}
    at.switch_page("pages/instructor.py")
    at = at.run()
    assert [t.label for t in at.tabs][:2] == ["Overview", "Learners"]
    assert "Reviewing as **Teacher@Example.org**" in everything_shown(at)


def test_a_signed_in_learner_not_listed_is_refused(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.apptest.conftest import ROOT, TIMEOUT

    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    monkeypatch.setattr(persistence, "signed_in_identity", lambda: ("learner@example.org", None))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets["instructor"] = {"emails": ["teacher@example.org"]}
    at.switch_page("pages/instructor.py")
    at = at.run()
    assert not at.tabs
    assert "This page is for the instructor of a hosted class" in everything_shown(at)


def _try_password(at, password: str):
    at.text_input(key=instructor_ui.PASSWORD_INPUT).set_value(password)
    return submit(at, "Open the class view")


def test_wrong_passwords_are_throttled_and_the_box_says_when(monkeypatch, caplog):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    clock = {"t": 100.0}
    monkeypatch.setattr("core.throttle.time.monotonic", lambda: clock["t"])
    at = open_page("instructor")
    with caplog.at_level(logging.WARNING, logger="ui.instructor_ui"):
        for n in range(PASSWORD_PER_SESSION.free):
            at = _try_password(at, f"guess number {n}")
            assert "That is not the instructor password" in everything_shown(at)
    assert "the next try is possible in 5 seconds" in everything_shown(at)
    at = _try_password(at, PASSWORD)  # right, but too soon: not even checked
    assert "Too many wrong passwords were tried. Try again in 5 seconds." in everything_shown(at)
    assert not at.tabs
    clock["t"] += 5
    at = _try_password(at, PASSWORD)
    assert at.tabs
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert logged.count("A wrong instructor password was tried") == PASSWORD_PER_SESSION.free
    assert "guess number" not in logged  # failed attempts are logged without the password


def test_a_flood_of_wrong_passwords_closes_the_box_for_the_whole_server(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    clock = {"t": 100.0}
    monkeypatch.setattr("core.throttle.time.monotonic", lambda: clock["t"])
    sessions = 0
    while True:  # every guess from a fresh session, as a script would
        at = _try_password(open_page("instructor"), "a guess")
        sessions += 1
        clock["t"] += 1
        if "Try again in" in everything_shown(at):
            break
        assert sessions <= PASSWORD_SERVER.lockout_after
    at = _try_password(open_page("instructor"), PASSWORD)  # the instructor, from a new session
    assert "Too many wrong passwords were tried. Try again in" in everything_shown(at)
    assert not at.tabs
    clock["t"] += PASSWORD_SERVER.lockout_s
    assert _try_password(open_page("instructor"), PASSWORD).tabs


HOSTILE_NAME = "![x](https://evil.example/p.png) [click](https://evil.example/a) **Ada**\u202e"
HOSTILE_ESSAY = (
    "Attention ![tracker](https://evil.example/t.png) moves information; see "
    "[this](https://evil.example/b) <img src=https://evil.example/c.png> and "
    "<script>alert(1)</script>."
)


def test_learner_text_is_shown_as_plain_text_in_the_class_view(monkeypatch):
    """A name or an essay written as Markdown or HTML is shown as the characters typed:
    nothing in it becomes a link, an image or markup in the instructor's browser."""
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    bank = load_bank(bank_path("checkpoint_1"))
    essay = next(i for i in bank.items if i.type == "essay")
    learner = open_page("architecture")
    learner.text_input(key=persistence.NAME_INPUT).set_value(HOSTILE_NAME)
    learner = submit(learner, "Save name")
    answer_wrong(learner, bank, FlowKeys("checkpoint_1").prefix(0))
    learner.text_area(key=FlowKeys("checkpoint_1").item(0, essay.id)).set_value(HOSTILE_ESSAY)
    learner = submit(learner, "Submit answers")
    learner_id = learner.session_state[persistence.LEARNER]["id"]

    at = _try_password(open_page("instructor"), PASSWORD)
    rendered = (
        [m.value for m in at.markdown]
        + [c.value for c in at.caption]
        + [e.label for e in at.expander]
        + [t.label for t in at.tabs]
        + [w.label for w in at.text_input]
        + [w.label for w in at.number_input]
        + [b.label for b in at.button]
    )
    assert not any("evil.example" in r for r in rendered), [r for r in rendered if "evil" in r]
    plain = [t.value for t in at.text]
    cleaned = HOSTILE_NAME.replace("\u202e", "")
    assert f"Learner: {cleaned} (#{learner_id})" in plain
    assert HOSTILE_ESSAY in plain
    attempts = at.dataframe[1].value
    assert list(attempts[attempts["learner id"] == learner_id]["learner"]) == [
        f"{cleaned} (#{learner_id})"
    ]
