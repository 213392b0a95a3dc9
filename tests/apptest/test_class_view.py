"""The instructor's class view: closed to learners, open with the password, showing each
learner's attempts, and reviews that change what the learner then sees."""

from __future__ import annotations

from core.assessment import bank_path, load_bank
from core.store import LearnerStore, default_url
from tests.apptest.conftest import open_page
from tests.apptest.test_assessment_pages import answer_right, answer_wrong, submit
from tests.apptest.test_persistence import code_of, reopen
from ui.assessment_ui import FlowKeys

PASSWORD = "correct horse battery staple"


def everything_shown(at) -> str:
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [e.value for e in at.error] + [i.value for i in at.info])


def test_the_class_view_is_off_until_an_instructor_configures_it(monkeypatch):
    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    at = open_page("instructor")
    assert "The class view is off in this copy of the lab" in everything_shown(at)
    assert not at.tabs and not at.main.text_input
    assert not at.exception


def test_a_wrong_password_is_refused_and_shows_nothing(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    at = open_page("instructor")
    at.text_input(key="lab_w_instructor_password").set_value("guess")
    at = submit(at, "Open the class view")
    assert "That is not the instructor password" in everything_shown(at)
    assert not at.tabs and not at.dataframe


def test_the_instructor_sees_attempts_and_reviews_an_essay(monkeypatch):
    monkeypatch.setenv("LAB_INSTRUCTOR_PASSWORD", PASSWORD)
    bank = load_bank(bank_path("checkpoint_1"))
    # A learner with a name submits a wrong checkpoint 1.
    learner = open_page("architecture")
    learner.text_input(key="lab_w_display_name").set_value("Grace Hopper")
    learner = submit(learner, "Save name")
    answer_wrong(learner, bank, FlowKeys("checkpoint_1").prefix(0))
    learner = submit(learner, "Submit answers")
    learner_id = learner.session_state["lab_learner"]["id"]
    essay = next(i for i in bank.items if i.type == "essay")

    at = open_page("instructor")
    at.text_input(key="lab_w_instructor_password").set_value(PASSWORD)
    at = submit(at, "Open the class view")
    assert [t.label for t in at.tabs] == ["Overview", "Learners", "Questions",
                                         "Essays to review", "Export", "Check a question bank"]
    tables = [df.value for df in at.dataframe]
    attempts = tables[1]  # pass-rate table is shown by chart_with_table; then latest attempts
    mine = attempts[attempts["learner id"] == learner_id]
    assert list(mine["learner"]) == ["Grace Hopper"] and list(mine["passed"]) == ["no"]
    # Review the essay: full marks.
    attempt_id = int(mine["attempt"].iloc[0])
    key = f"lab_review_{attempt_id}_{essay.id}"
    at.number_input(key=f"{key}_score").set_value(100.0)
    at.text_input(key=f"{key}_note").set_value("A fair answer in plain words.")
    at.button(key=f"{key}_save").click()
    at = at.run()
    assert any("Saved: 100% for this answer" in s.value for s in at.success)
    store = LearnerStore.from_url(default_url())
    assert store.reviews([attempt_id]) == {attempt_id: {essay.id: (1.0, "A fair answer in "
                                                                     "plain words.")}}
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
    learner_id = learner.session_state["lab_learner"]["id"]
    at = open_page("instructor")
    at.text_input(key="lab_w_instructor_password").set_value(PASSWORD)
    at = submit(at, "Open the class view")
    learners = next(df.value for df in at.dataframe if "checkpoint_1 best" in df.value.columns)
    row = learners[learners["learner id"] == learner_id]
    assert list(row["checkpoint_1 passed"]) == ["yes"]
    assert list(row["checkpoint_1 best"]) == [1.0]


def test_a_signed_in_instructor_listed_in_secrets_needs_no_password(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.apptest.conftest import ROOT, TIMEOUT
    from ui import persistence

    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    monkeypatch.setattr(persistence, "signed_in_identity",
                        lambda: ("Teacher@Example.org", "The teacher"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets["instructor"] = {"emails": ["teacher@example.org"]}
    at.switch_page("pages/instructor.py")
    at = at.run()
    assert [t.label for t in at.tabs][:2] == ["Overview", "Learners"]
    assert "Reviewing as **Teacher@Example.org**" in everything_shown(at)


def test_a_signed_in_learner_not_listed_is_refused(monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.apptest.conftest import ROOT, TIMEOUT
    from ui import persistence

    monkeypatch.delenv("LAB_INSTRUCTOR_PASSWORD", raising=False)
    monkeypatch.setattr(persistence, "signed_in_identity", lambda: ("learner@example.org", None))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.secrets["instructor"] = {"emails": ["teacher@example.org"]}
    at.switch_page("pages/instructor.py")
    at = at.run()
    assert not at.tabs
    assert "This page is for the instructor of a hosted class" in everything_shown(at)
