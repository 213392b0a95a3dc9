"""A class's records are safe: what review found on the paths the older tests never walked.

- identity: a resume link never silently switches a browser that has its own record (session
  fixation); the code leaves the address once read; wrong codes add no rows; typed, linked and
  forged-cookie codes are throttled; a cookie can only carry a code this app signed;
- nothing lost, nothing twice: a full database, then space freed; a read-only database, then
  writable again (no restart); a failed save said in the run that tried; two tabs; a 60,000
  character essay in a non-Latin script.

Every app here runs app.py through AppTest against the test session's database
(tests/conftest.py sets LAB_DATA_DIR). A :class:`Browser` plays one browser: it keeps the cookie
the app sets (the signed resume code) and sends it with every new tab, as a real browser does.
"""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from core.assessment import MAX_ESSAY_CHARS, SUMMATIVE_ID, bank_path, load_bank
from core.store import LearnerStore, new_resume_code
from core.throttle import RESUME_PER_SESSION, RESUME_SERVER, Throttle
from tests.apptest.conftest import ROOT, TIMEOUT, Browser, accept_link, store
from tests.apptest.test_assessment_pages import answer_right, sidebar_text, submit
from tests.apptest.test_persistence import code_of, navigate
from tests.unit.test_assessment_banks import MODEL_ANSWERS
from ui import persistence
from ui.assessment_ui import FlowKeys

CP1 = FlowKeys("checkpoint_1")
FINAL = FlowKeys(SUMMATIVE_ID)


@pytest.fixture
def browser(monkeypatch):
    return Browser(monkeypatch)


@pytest.fixture(autouse=True)
def fresh_server_throttle(monkeypatch):
    """Each test starts with a server that has seen no wrong codes."""
    monkeypatch.setattr(persistence, "SERVER_RESUME", Throttle(RESUME_SERVER))


def learner_id(at: AppTest) -> int | None:
    return at.session_state[persistence.LEARNER]["id"]


def rows() -> int:
    return len(store().all_learners())


def main_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.main.markdown)


def first_item(bank_id: str = "checkpoint_1"):
    """The bank's first multiple-choice question."""
    return next(i for i in load_bank(bank_path(bank_id)).items if i.type == "multiple_choice")


def save_problems(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "could not be saved" in w.value]


def draft(at: AppTest, bank_id: str = "checkpoint_1") -> AppTest:
    """Answer a multiple-choice question of the bank on this page (a draft is saved)."""
    item = first_item(bank_id)
    at.radio(key=FlowKeys(bank_id).item(0, item.id)).set_value(item.correct)
    return at.run()


# -- identity -----------------------------------------------------------------------------------------
def test_two_tabs_opened_before_anything_is_saved_share_one_record(browser):
    first = browser.open("architecture")
    second = browser.open("residual_stream")  # a new tab, before anything was saved
    assert code_of(second) == code_of(first)
    draft(first)
    essay = next(i for i in load_bank(bank_path("checkpoint_2")).items if i.type == "essay")
    second.text_area(key=FlowKeys("checkpoint_2").item(0, essay.id)).set_value(
        MODEL_ANSWERS[essay.id]
    ).run()
    assert learner_id(first) == learner_id(second) is not None
    state = store().load_state(learner_id(first))
    assert state[CP1.draft_state(first_item().id)] == first_item().correct
    assert state[FlowKeys("checkpoint_2").draft_state(essay.id)] == MODEL_ANSWERS[essay.id]


def test_the_code_leaves_the_address_and_the_cookie_is_signed(browser):
    owner_id, code = store().new_learner()
    at = browser.open("home", link=code)
    assert "learner" not in at.query_params  # gone at once, before anything is chosen
    at = accept_link(at, code, browser)
    assert learner_id(at) == owner_id
    assert "learner" not in at.query_params
    assert browser.cookie.startswith(code + ".") and len(browser.cookie) > len(code) + 16
    assert learner_id(browser.open("architecture")) == owner_id  # a plain visit: the cookie


def test_a_link_to_another_record_asks_and_changes_nothing_until_the_learner_chooses(browser):
    victim = draft(browser.open("architecture"))
    victim_id, victim_code = learner_id(victim), code_of(victim)
    attacker_id, attacker_code = store().new_learner("attacker")

    at = browser.open("architecture", link=attacker_code)
    assert learner_id(at) == victim_id  # still the browser's own record
    assert "learner" not in at.query_params
    ask = main_text(at)
    assert f"This link opens the saved work of code {attacker_code[:4]}-…" in ask
    assert f"You are working as {victim_code[:4]}-… in this browser" in ask
    assert attacker_code not in ask and victim_code not in ask
    # Work done while the question is open goes to the browser's own record.
    essay = next(i for i in load_bank(bank_path("checkpoint_1")).items if i.type == "essay")
    at.text_area(key=CP1.item(0, essay.id)).set_value("mine, not the link's").run()
    assert store().load_state(attacker_id) == {}
    assert store().load_state(victim_id)[CP1.draft_state(essay.id)] == "mine, not the link's"

    at = browser.click(at, f"Keep working as {victim_code[:4]}-…")
    assert "This link opens" not in main_text(at) and learner_id(at) == victim_id
    assert learner_id(browser.open("home")) == victim_id  # a later plain visit: still mine
    assert browser.cookie.startswith(victim_code)


def test_choosing_the_links_record_switches_and_moves_the_cookie(browser):
    own = draft(browser.open("architecture"))
    other_id, other_code = store().new_learner("other device")
    store().save_state(other_id, {CP1.draft_state(first_item().id): "from the other device"})
    at = browser.open("architecture", link=other_code)
    at = browser.click(at, f"Open the work of {other_code[:4]}-…")
    assert learner_id(at) == other_id
    assert browser.cookie.startswith(other_code + ".")
    assert learner_id(browser.open("home")) == other_id
    assert learner_id(own) != other_id


def test_a_link_in_a_fresh_browser_asks_too_and_keeps_its_work_apart_until_chosen(browser):
    """A stranger sends a learner with no record yet a link to the stranger's own record: the
    learner's work must not land there unless the learner opens it knowingly."""
    attacker_id, attacker_code = store().new_learner("Ada")
    at = browser.open("architecture", link=attacker_code.lower().replace("-", " "))
    assert learner_id(at) is None  # a record of its own (made with the first save)
    ask = main_text(at)
    assert f"This link opens the saved work of code {attacker_code[:4]}-…" in ask
    assert "what you do here is kept as a new record of its own" in ask
    at = draft(at)
    mine = learner_id(at)
    assert mine is not None and mine != attacker_id
    assert store().load_state(attacker_id) == {}
    assert store().attempts(attacker_id) == []
    # Once it holds something, the browser's record is its own: the question names it.
    at = browser.click(at, f"Keep working as {code_of(at)[:4]}-…")
    assert "This link opens" not in main_text(at) and learner_id(at) == mine
    assert learner_id(browser.open("home")) == mine


def test_a_fresh_browser_can_decline_a_link(browser):
    _, attacker_code = store().new_learner()
    at = browser.open("home", link=attacker_code)
    at = browser.click(at, "Start a new record instead")
    assert "This link opens" not in main_text(at) and learner_id(at) is None
    notes = " ".join(i.value for i in at.sidebar.info)
    assert "The link was not used: you are working on a new record of your own." in notes


def test_another_device_opens_its_link_with_one_click(browser):
    owner_id, code = store().new_learner()
    store().save_state(owner_id, {CP1.draft_state(first_item().id): first_item().correct})
    at = browser.open_link("architecture", code)
    assert learner_id(at) == owner_id and "This link opens" not in main_text(at)
    assert at.radio(key=CP1.item(0, first_item().id)).value == first_item().correct
    assert learner_id(browser.open("home")) == owner_id


def test_wrong_codes_add_no_rows(browser, monkeypatch):
    before = rows()
    for link in ("NOT-A-CODE", new_resume_code(), new_resume_code(), "ABCD-EFGH-JKM0"):
        at = Browser(monkeypatch).open("home", link=link)
        assert learner_id(at) is None and "learner" not in at.query_params
    at = browser.open("home")
    for _ in range(3):
        at.text_input(key=persistence.CODE_INPUT).set_value(new_resume_code())
        at = submit(at, "Resume")
    # A made-up cookie (not signed by this app) is a guess like any other.
    forged = Browser(monkeypatch)
    forged.cookie = new_resume_code()
    assert learner_id(forged.open("home")) is None
    assert rows() == before


def test_cookies_this_app_did_not_sign(monkeypatch):
    """A signed cookie is trusted to hold a code this app gave out (even one with nothing saved
    yet). A cookie with a signature that does not match (made up, or signed by a database that
    has since been replaced: a whole class comes back after a reboot) is ignored without
    counting as a guess. A bare code under the old cookie name (from before cookies were
    signed) is checked like a typed code: right, it opens and is signed anew; wrong, it counts
    against the throttles."""
    owner_id, code = store().new_learner()
    before = persistence.SERVER_RESUME.failures()
    for value in (f"{code}.{'0' * 32}", f"{new_resume_code()}.{'0' * 32}", "x" * 5000):
        forged = Browser(monkeypatch)
        forged.cookie = value
        assert learner_id(forged.open("home")) is None
    assert persistence.SERVER_RESUME.failures() == before  # not counted: nothing was checked
    old = Browser(monkeypatch)
    old.cookies[persistence.LEGACY_COOKIE] = code
    assert learner_id(old.open("home")) == owner_id
    assert old.cookie.startswith(code + ".") and persistence.LEGACY_COOKIE not in old.cookies
    wrong = Browser(monkeypatch)
    wrong.cookies[persistence.LEGACY_COOKIE] = new_resume_code()
    assert learner_id(wrong.open("home")) is None
    assert persistence.SERVER_RESUME.failures() == before + 1


def test_two_copies_of_the_lab_with_their_own_databases_use_different_cookies(tmp_path):
    from core.store import default_url, shared_store

    here = persistence.cookie_name(store())
    other = persistence.cookie_name(shared_store(default_url(tmp_path / "another-lab")))
    assert here != other and here.startswith("lab_learner_") and other.startswith("lab_learner_")
    assert persistence.cookie_name(store()) == here  # the same database, the same name


def test_typed_codes_are_throttled_per_session_and_the_form_says_when(browser, monkeypatch):
    clock = {"t": 1000.0}
    monkeypatch.setattr("core.throttle.time.monotonic", lambda: clock["t"])
    owner_id, right = store().new_learner()
    at = browser.open("home")
    for _ in range(RESUME_PER_SESSION.free):
        at.text_input(key=persistence.CODE_INPUT).set_value(new_resume_code())
        at = submit(at, "Resume")
        assert "No learner has that resume code" in " ".join(i.value for i in at.sidebar.info)
    # The free tries are used up: the next try must wait, and the form says how long.
    assert "the next try is possible in 2 seconds" in " ".join(c.value for c in at.sidebar.caption)
    at.text_input(key=persistence.CODE_INPUT).set_value(right)
    at = submit(at, "Resume")
    assert "Too many resume codes were tried just now. Try again in 2 seconds." in " ".join(
        i.value for i in at.sidebar.info
    )
    assert learner_id(at) != owner_id  # not even the right code is checked while waiting
    clock["t"] += 2
    at.text_input(key=persistence.CODE_INPUT).set_value(right)
    at = submit(at, "Resume")
    assert learner_id(at) == owner_id


def test_wrong_links_from_many_sessions_throttle_the_whole_server(monkeypatch):
    clock = {"t": 5000.0}
    monkeypatch.setattr("core.throttle.time.monotonic", lambda: clock["t"])
    owner_id, right = store().new_learner()
    for _ in range(6):  # six sessions (six "new tabs"), one wrong code each
        Browser(monkeypatch).open("home", link=new_resume_code())
    assert persistence.SERVER_RESUME.failures() == 6
    for _ in range(RESUME_SERVER.free - 6):
        persistence.SERVER_RESUME.failed()
    at = Browser(monkeypatch).open("home", link=right)
    notes = " ".join(i.value for i in at.sidebar.info)
    assert "The resume code in the address was not checked: Too many resume codes" in notes
    assert learner_id(at) is None and "learner" not in at.query_params
    clock["t"] += RESUME_SERVER.base_wait_s * 2
    assert learner_id(Browser(monkeypatch).open_link("home", right)) == owner_id


# -- nothing lost, nothing twice ------------------------------------------------------------------------
@contextlib.contextmanager
def database_fault(s: LearnerStore, kind: str):
    """Make the SQLite database full or read-only for every connection the app takes from its
    pool, until ``fault["on"]`` is set to False (the disk has space again / it is writable)."""
    with s.engine.connect() as conn:
        pages = conn.execute(sa.text("PRAGMA page_count")).scalar()
    fault = {"on": True}

    def checkout(dbapi_conn, _record, _proxy):
        if kind == "full":
            dbapi_conn.execute(f"PRAGMA max_page_count={pages if fault['on'] else 1073741823}")
        else:
            dbapi_conn.execute(f"PRAGMA query_only={1 if fault['on'] else 0}")

    sa.event.listen(s.engine, "checkout", checkout)
    try:
        yield fault
    finally:
        fault["on"] = False
        sa.event.remove(s.engine, "checkout", checkout)


def _submit_checkpoint_during(kind: str, browser) -> tuple[AppTest, int]:
    bank = load_bank(bank_path("checkpoint_1"))
    at = draft(browser.open("architecture"))
    me = learner_id(at)
    essay = next(i for i in bank.items if i.type == "essay")
    with database_fault(store(), kind) as fault:
        answer_right(at, bank, CP1.prefix(0))
        # A long answer, so that storing the attempt needs room the full database lacks.
        at.text_area(key=CP1.item(0, essay.id)).set_value(
            MODEL_ANSWERS[essay.id] + " " + "More detail. " * 2000
        )
        at = submit(at, "Submit answers")
        assert at.session_state[CP1.stage] == "result"  # graded all the same
        why = "the database is full" if kind == "full" else "the database cannot be written"
        # Said in the run that tried, inside the checkpoint itself (not only in the sidebar).
        assert any(why in w.value for w in at.main.warning), [w.value for w in at.main.warning]
        assert store().attempts(me) == []
        fault["on"] = False  # space freed / writable again; no restart
        at = navigate(at, "home")
        assert not at.exception and not at.error
        assert not at.sidebar.warning
    return at, me


@pytest.mark.parametrize("kind", ["full", "read-only"])
def test_a_submission_made_during_a_fault_is_stored_exactly_once_afterwards(kind, browser):
    at, me = _submit_checkpoint_during(kind, browser)
    assert len(store().attempts(me, "checkpoint_1")) == 1
    at = navigate(navigate(at, "architecture"), "residual_stream")
    assert len(store().attempts(me, "checkpoint_1")) == 1
    stored = store().attempts(me, "checkpoint_1")[0]
    # The result shown is linked to the stored attempt, so a reload (and a review) finds it.
    again = browser.open("architecture")
    assert learner_id(again) == me
    assert again.session_state[CP1.stage] == "result"
    assert again.session_state[CP1.attempt_id] == stored.id
    assert again.session_state[CP1.result].score == stored.score


def test_a_draft_saved_while_read_only_is_saved_once_writable_and_said_at_once(browser):
    at = draft(browser.open("architecture"))
    me = learner_id(at)
    essay = next(i for i in load_bank(bank_path("checkpoint_1")).items if i.type == "essay")
    with database_fault(store(), "read-only") as fault:
        at.text_area(key=CP1.item(0, essay.id)).set_value("typed while read-only").run()
        assert any("cannot be written" in w.value for w in at.main.warning)
        fault["on"] = False
        at = navigate(at, "home")  # the next interaction stores what is pending
    assert store().load_state(me)[CP1.draft_state(essay.id)] == "typed while read-only"
    # A new session (another learner) is not told the database cannot be written.
    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    assert not other.sidebar.warning


def test_a_tab_that_never_touched_an_answer_does_not_empty_it(browser):
    bank = load_bank(bank_path(SUMMATIVE_ID))
    essays = [i for i in bank.items if i.type == "essay"]
    tab_a = browser.open("assessment")
    tab_b = browser.open("assessment")  # opened before A typed anything
    text = MODEL_ANSWERS[essays[1].id]
    tab_a.text_area(key=FINAL.item(0, essays[1].id)).set_value(text).run()
    me = learner_id(tab_a)
    tab_b = submit(tab_b, "Review my answers")  # B never touched essay 2
    assert store().load_state(me)[FINAL.draft_state(essays[1].id)] == text
    assert learner_id(tab_b) == me


def test_an_older_draft_waiting_in_one_tab_never_replaces_a_newer_one(browser):
    bank = load_bank(bank_path(SUMMATIVE_ID))
    essay, other = [i for i in bank.items if i.type == "essay"][:2]
    tab_a = browser.open("assessment")
    tab_b = browser.open("assessment")
    tab_a.text_area(key=FINAL.item(0, other.id)).set_value("the record exists").run()
    with database_fault(store(), "read-only") as fault:
        tab_b.text_area(key=FINAL.item(0, essay.id)).set_value("older, from tab B").run()
        fault["on"] = False
    tab_a.text_area(key=FINAL.item(0, essay.id)).set_value("newer, from tab A").run()
    navigate(tab_b, "home")  # B writes what waited: older than A's, so it is not written
    assert store().load_state(learner_id(tab_a))[FINAL.draft_state(essay.id)] == "newer, from tab A"


def test_the_longest_essay_in_a_non_latin_script_is_saved_and_submitted(browser):
    bank = load_bank(bank_path("checkpoint_1"))
    essay = next(i for i in bank.items if i.type == "essay")
    text = ("注意力头读取残差流。" * (MAX_ESSAY_CHARS // 10))[:MAX_ESSAY_CHARS]
    assert len(text) == MAX_ESSAY_CHARS and len(text.encode()) > 170_000
    at = draft(browser.open("architecture"))
    at.text_area(key=CP1.item(0, essay.id)).set_value(text).run()
    me = learner_id(at)
    assert store().load_state(me)[CP1.draft_state(essay.id)] == text
    at = submit(at, "Submit answers")
    assert not at.exception and not at.error
    assert save_problems(at) == []
    attempts = store().attempts(me, "checkpoint_1")
    assert len(attempts) == 1 and attempts[0].answers[essay.id] == text
    assert "Checkpoint 1 (Architecture)" in sidebar_text(at)


def test_the_same_submission_twice_is_stored_once_and_a_changed_one_again(browser):
    """A double click on Submit sends the same answers twice: one attempt. Answers changed
    and submitted again (a checkpoint keeps its Submit button): a second attempt."""
    bank = load_bank(bank_path("checkpoint_1"))
    at = browser.open("architecture")
    answer_right(at, bank, CP1.prefix(0))
    at = submit(at, "Submit answers")
    at = submit(at, "Submit answers")
    me = learner_id(at)
    assert len(store().attempts(me, "checkpoint_1")) == 1
    item = first_item()
    wrong = next(o.text for o in item.options if o.text != item.correct)
    at.radio(key=CP1.item(0, item.id)).set_value(wrong)
    at = submit(at, "Submit answers")
    assert len(store().attempts(me, "checkpoint_1")) == 2


def test_a_name_saved_while_the_database_is_read_only_is_saved_afterwards(browser):
    at = draft(browser.open("architecture"))
    me = learner_id(at)
    with database_fault(store(), "read-only") as fault:
        at.text_input(key=persistence.NAME_INPUT).set_value("Grace Hopper")
        at = submit(at, "Save name")
        notes = " ".join(i.value for i in at.sidebar.info)
        assert "Your name is not saved yet; it will be as soon as the database is back" in notes
        fault["on"] = False
        at = navigate(at, "home")
    assert store().learner(me).display_name == "Grace Hopper"


def test_opening_another_record_waits_while_this_one_cannot_be_saved(browser):
    """Switching would drop what this session could not save yet: it is refused, said in the
    question's box, and works once the database is back; nothing is lost."""
    at = draft(browser.open("architecture"))
    me = learner_id(at)
    other_id, other_code = store().new_learner()
    at = browser.open("architecture", link=other_code)
    essay = next(i for i in load_bank(bank_path("checkpoint_1")).items if i.type == "essay")
    with database_fault(store(), "read-only") as fault:
        at.text_area(key=CP1.item(0, essay.id)).set_value("typed while read-only").run()
        at = browser.click(at, f"Open the work of {other_code[:4]}-…")
        assert learner_id(at) == me
        assert any("The other record is not opened yet" in w.value for w in at.main.warning)
        fault["on"] = False
    at = browser.click(at, f"Open the work of {other_code[:4]}-…")
    assert learner_id(at) == other_id
    assert store().load_state(me)[CP1.draft_state(essay.id)] == "typed while read-only"


def test_a_link_opened_while_the_database_is_down_is_kept_until_it_is_back(monkeypatch):
    owner_id, code = store().new_learner()
    good = persistence.database_url()
    monkeypatch.setenv(
        "LAB_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    )
    tab = Browser(monkeypatch)
    at = tab.open("home", link=code)
    assert "learner" not in at.query_params  # out of the address at once
    assert "could not be saved" in " ".join(w.value for w in at.sidebar.warning)
    monkeypatch.setenv("LAB_DATABASE_URL", good)  # the database is back
    at = tab.run(at)
    assert f"This link opens the saved work of code {code[:4]}-…" in main_text(at)
    at = accept_link(at, code, tab)
    assert learner_id(at) == owner_id


def test_a_read_only_database_still_opens_a_learners_saved_work(browser):
    item = first_item()
    at = draft(browser.open("architecture"))
    me = learner_id(at)
    with database_fault(store(), "read-only"):
        again = browser.open("architecture")  # a reload
        assert learner_id(again) == me
        assert again.radio(key=CP1.item(0, item.id)).value == item.correct
