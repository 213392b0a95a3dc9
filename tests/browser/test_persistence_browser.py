"""Nothing a learner does is lost, in Chromium: a reload, typing another page's address, the
sidebar, a server restart (a new server process on the same database), a fresh copy of the
repository run with no settings at all, and a resume link that names another record."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from core.assessment import bank_path, load_bank
from tests.unit.test_assessment_banks import MODEL_ANSWERS

from .conftest import (
    OUTPUT_DIR,
    REPO_ROOT,
    SKIP_BROWSER,
    SKIP_REASON,
    running_app,
    screenshot,
    wait_for_app_idle,
)
from .test_pages import page_problems

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

VALUE_TIMEOUT_MS = 30_000
CODE = re.compile(r"\b([A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4})\b")


@pytest.fixture(scope="module")
def data_dir():
    return Path(tempfile.mkdtemp(prefix="lab-browser-data-"))


def sidebar(pg):
    return pg.locator('[data-testid="stSidebar"]')


def code_in_sidebar(pg) -> str:
    """Open "Your saved work" (if closed) and read the resume code shown there."""
    panel = sidebar(pg).locator('[data-testid="stExpander"]', has_text="Your saved work")
    panel.wait_for()
    wait_for_app_idle(pg)
    if not panel.locator('[data-testid="stCode"]').first.is_visible():
        panel.get_by_text("Your saved work").click()
    code_box = panel.locator('[data-testid="stCode"]').first
    code_box.wait_for(state="visible")
    return CODE.search(code_box.inner_text()).group(1)


def assert_no_code_in_address(pg) -> None:
    assert "learner=" not in pg.url, pg.url


def wait_for_drafts(
    url: str, code: str, bank_id: str, item_ids: set[str], timeout_s: float = 60
) -> None:
    """Poll the server's database until drafts of ``item_ids`` are saved."""
    import time

    from core.store import LearnerStore

    store = LearnerStore.from_url(url)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            learner = store.find_code(code)
            state = store.load_state(learner) if learner is not None else {}
            saved = {
                k.rsplit(":", 1)[1]
                for k, v in state.items()
                if k.startswith(f"draft:{bank_id}:") and v
            }
            if item_ids <= saved:
                return
            assert time.monotonic() < deadline, f"drafts saved: {sorted(saved)}"
            time.sleep(0.3)
    finally:
        store.engine.dispose()


def essay_box(pg, n: int, min_words: int):
    return pg.get_by_role(
        "textbox", name=f"Your answer to question {n} (at least {min_words} words)"
    )


def checkbox(pg, option: str):
    return pg.locator('[data-testid="stCheckbox"]', has_text=option).first


def _checkpoint_1():
    bank = load_bank(bank_path("checkpoint_1"))
    items = list(bank.items)
    n_essay, essay = next((n, i) for n, i in enumerate(items, 1) if i.type == "essay")
    select = next(i for i in items if i.type == "multiple_select")
    return n_essay, essay, select


@pytest.mark.timeout(900)
def test_work_survives_reload_address_bar_sidebar_and_restart(page, data_dir):
    from playwright.sync_api import expect

    from core.store import default_url

    n_essay, essay, select = _checkpoint_1()
    ticked = select.correct[0]
    log = OUTPUT_DIR / "server-persistence.log"
    db = default_url(data_dir)
    with running_app(log, env={"LAB_DATA_DIR": str(data_dir)}) as base:
        page.goto(base + "architecture")
        wait_for_app_idle(page)
        # A fresh server's first request reruns once through app.py: read the panel after it.
        code = code_in_sidebar(page)
        assert_no_code_in_address(page)
        screenshot(page, "persistence-sidebar-code")
        # Drafts: an essay and one ticked box, not submitted.
        essay_box(page, n_essay, essay.min_words).fill(MODEL_ANSWERS[essay.id])
        checkbox(page, ticked).click()
        # The click sends both answers (the essay as it loses focus); wait until the server has
        # saved both drafts in the learner's record before reloading.
        wait_for_drafts(db, code, "checkpoint_1", {essay.id, select.id})
        wait_for_app_idle(page)

        # 1. A reload: the cookie finds the record (the address has no code).
        page.reload()
        wait_for_app_idle(page)
        assert code_in_sidebar(page) == code
        assert_no_code_in_address(page)
        # (A restored widget is drawn first with its default and then given the saved value, so
        # these assertions wait for the value rather than reading it once.)
        expect(essay_box(page, n_essay, essay.min_words)).to_have_value(
            MODEL_ANSWERS[essay.id], timeout=VALUE_TIMEOUT_MS
        )
        expect(checkbox(page, ticked).locator("input")).to_be_checked(timeout=VALUE_TIMEOUT_MS)

        # 2. Another page's address typed: the cookie again.
        page.goto(base + "residual_stream")
        wait_for_app_idle(page)
        assert code_in_sidebar(page) == code
        # 3. Back by the sidebar.
        page.locator('[data-testid="stSidebarNav"] a', has_text="Architecture").first.click()
        wait_for_app_idle(page)
        expect(essay_box(page, n_essay, essay.min_words)).to_have_value(
            MODEL_ANSWERS[essay.id], timeout=VALUE_TIMEOUT_MS
        )

        # Submit what is there (a partial answer: not passed).
        page.get_by_role("button", name="Submit answers").click()
        page.get_by_text(re.compile(r"Not passed yet: \d+%")).first.wait_for()
        wait_for_app_idle(page)
        expect(sidebar(page)).to_contain_text(
            "Checkpoint 1 (Architecture): not passed yet", timeout=VALUE_TIMEOUT_MS
        )
        assert not page_problems(page)

    # 4. The server restarts (a new process, the same database): the resume link, as another
    # device would open it (here the browser holds the same code, so nothing is asked).
    with running_app(log, env={"LAB_DATA_DIR": str(data_dir)}) as base:
        page.goto(f"{base}architecture?learner={code}")
        wait_for_app_idle(page)
        sidebar(page).get_by_text(
            re.compile(r"Checkpoint 1 \(Architecture\): not passed yet")
        ).first.wait_for()
        wait_for_app_idle(page)
        assert_no_code_in_address(page)
        page.get_by_text(re.compile(r"Not passed yet: \d+%")).first.wait_for()
        expect(essay_box(page, n_essay, essay.min_words)).to_have_value(
            MODEL_ANSWERS[essay.id], timeout=VALUE_TIMEOUT_MS
        )
        assert page.get_by_text("This link opens the saved work").count() == 0
        screenshot(page, "persistence-after-restart")
        assert not page_problems(page)


def fresh_copy(target: Path) -> Path:
    """What a fresh clone holds: the repository's files (committed, or new and not ignored),
    without anything git ignores (.lab-data/, .venv/, test output)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.timeout(900)
def test_a_fresh_copy_with_no_settings_saves_from_the_first_visit(browser, tmp_path):
    """The newcomer's path: a fresh copy of the repository, the README's run command (here with
    the test's interpreter), no LAB_* variables: a resume code is shown, the sidebar says where
    the work is kept, and an essay draft and a submitted checkpoint survive a reload."""
    from playwright.sync_api import expect

    from core.store import default_url

    copy = fresh_copy(tmp_path / "transformer-lab")
    assert not (copy / ".lab-data").exists()
    n_essay, essay, select = _checkpoint_1()
    unset = tuple(v for v in os.environ if v.startswith("LAB_") and v != "LAB_REQUIRE_BROWSER")
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(120_000)
    pg = context.new_page()
    try:
        with running_app(
            OUTPUT_DIR / "server-fresh-copy.log",
            cwd=copy,
            unset=unset + ("LAB_DATA_DIR", "LAB_DATABASE_URL"),
        ) as base:
            pg.goto(base + "architecture")
            wait_for_app_idle(pg)
            code = code_in_sidebar(pg)
            panel = sidebar(pg)
            expect(panel).to_contain_text(
                "Kept in the SQLite file .lab-data/lab.sqlite3 on the machine that runs this app"
            )
            expect(panel).not_to_contain_text("could not be saved")
            essay_box(pg, n_essay, essay.min_words).fill(MODEL_ANSWERS[essay.id])
            checkbox(pg, select.correct[0]).click()
            data = copy / ".lab-data"
            wait_for_drafts(default_url(data), code, "checkpoint_1", {essay.id, select.id})
            assert stat.S_IMODE(data.stat().st_mode) == 0o700
            assert stat.S_IMODE((data / "lab.sqlite3").stat().st_mode) == 0o600
            pg.get_by_role("button", name="Submit answers").click()
            pg.get_by_text(re.compile(r"Not passed yet: \d+%")).first.wait_for()
            wait_for_app_idle(pg)
            screenshot(pg, "fresh-copy-after-submit")

            pg.reload()
            wait_for_app_idle(pg)
            assert code_in_sidebar(pg) == code
            expect(sidebar(pg)).to_contain_text(
                "Checkpoint 1 (Architecture): not passed yet", timeout=VALUE_TIMEOUT_MS
            )
            pg.get_by_text(re.compile(r"Not passed yet: \d+%")).first.wait_for()
            expect(essay_box(pg, n_essay, essay.min_words)).to_have_value(
                MODEL_ANSWERS[essay.id], timeout=VALUE_TIMEOUT_MS
            )
            screenshot(pg, "fresh-copy-after-reload")
            assert not page_problems(pg)
    finally:
        context.close()


@pytest.mark.timeout(900)
def test_a_resume_link_to_another_record_asks_first(browser, app_url, lab_data_dir):
    """Session fixation: a browser that has its own record opens a link with someone else's
    code. It keeps its record until the learner chooses; the cookie changes only then."""
    from playwright.sync_api import expect

    from core.store import default_url, shared_store

    n_essay, essay, _ = _checkpoint_1()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(120_000)
    pg = context.new_page()
    try:
        pg.goto(app_url + "architecture")
        wait_for_app_idle(pg)
        mine = code_in_sidebar(pg)
        essay_box(pg, n_essay, essay.min_words).fill("my own draft")
        pg.get_by_role("button", name="Submit answers").focus()  # the essay is sent on blur
        wait_for_drafts(default_url(lab_data_dir), mine, "checkpoint_1", {essay.id})
        other_id, theirs = shared_store(default_url(lab_data_dir)).new_learner("link's owner")

        pg.goto(f"{app_url}architecture?learner={theirs}")
        wait_for_app_idle(pg)
        question = pg.get_by_text(f"This link opens the saved work of code {theirs[:4]}-…")
        expect(question).to_be_visible()
        assert_no_code_in_address(pg)
        assert code_in_sidebar(pg) == mine
        screenshot(pg, "resume-link-asks")
        # A plain visit later: still the browser's own record.
        pg.goto(app_url + "residual_stream")
        wait_for_app_idle(pg)
        assert code_in_sidebar(pg) == mine

        pg.goto(f"{app_url}architecture?learner={theirs}")
        wait_for_app_idle(pg)
        pg.get_by_role("button", name=f"Open the work of {theirs[:4]}-…").click()
        wait_for_app_idle(pg)
        assert code_in_sidebar(pg) == theirs
        copy = pg.get_by_role("button", name="Copy my resume link")
        expect(copy).to_be_visible()
        context.grant_permissions(["clipboard-read", "clipboard-write"])
        copy.click()
        expect(sidebar(pg).locator('span[role="status"]')).to_have_text("Copied.")
        copied = pg.evaluate("navigator.clipboard.readText()")
        assert copied.endswith(f"architecture?learner={theirs}"), copied
        assert "textContent" not in sidebar(pg).inner_text()  # no script shown as text
        screenshot(pg, "resume-link-opened")
        pg.reload()  # the cookie now holds the link's code
        wait_for_app_idle(pg)
        assert code_in_sidebar(pg) == theirs
        assert not page_problems(pg)
    finally:
        context.close()


@pytest.mark.timeout(600)
def test_two_tabs_opened_at_once_on_a_first_visit_end_on_one_record(browser, app_url):
    """Both tabs start before either has a cookie, so each is given a code. The second to set
    its cookie finds the first one's and reloads once to join that record: the browser ends
    with one record, and work typed in either tab is found by a reload of the other."""
    import time

    n_essay, essay, _ = _checkpoint_1()
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(120_000)
    try:
        first, second = context.new_page(), context.new_page()
        first.goto(app_url + "architecture", wait_until="commit")
        second.goto(app_url + "architecture", wait_until="commit")
        deadline = time.monotonic() + 90
        while True:
            codes = {code_in_sidebar(first), code_in_sidebar(second)}
            if len(codes) == 1 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert len(codes) == 1, codes
        (code,) = codes
        essay_box(second, n_essay, essay.min_words).fill("typed in the second tab")
        second.get_by_role("button", name="Submit answers").focus()
        first.reload()
        wait_for_app_idle(first)
        assert code_in_sidebar(first) == code
        from playwright.sync_api import expect

        expect(essay_box(first, n_essay, essay.min_words)).to_have_value(
            "typed in the second tab", timeout=VALUE_TIMEOUT_MS
        )
    finally:
        context.close()
