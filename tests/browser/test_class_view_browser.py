"""The instructor's class view in Chromium: refused without the password, then the overview,
an essay reviewed, the CSV export, a broken bank checked, and an axe audit of the open view."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import pytest

from core.assessment import bank_path, grade, load_bank
from core.store import LearnerStore, default_url
from tests.unit.test_assessment_banks import MODEL_ANSWERS

from .conftest import (
    OUTPUT_DIR,
    SKIP_BROWSER,
    SKIP_REASON,
    running_app,
    screenshot,
    wait_for_app_idle,
)
from .test_accessibility import BLOCKING, describe
from .test_pages import page_problems

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

PASSWORD = "a long instructor passphrase"


@pytest.fixture(scope="module")
def class_server():
    """A server with the class view turned on and one learner's checkpoint in its database."""
    data_dir = Path(tempfile.mkdtemp(prefix="lab-class-"))
    store = LearnerStore.from_url(default_url(data_dir))
    store.migrate()
    learner, _ = store.new_learner("Katherine Johnson")
    bank = load_bank(bank_path("checkpoint_1"))
    essay = next(i for i in bank.items if i.type == "essay")
    answers = {essay.id: MODEL_ANSWERS[essay.id]}
    result = grade(bank, answers)
    attempt = store.record_attempt(learner, "checkpoint_1", answers, result.to_dict())
    store.engine.dispose()
    env = {"LAB_DATA_DIR": str(data_dir), "LAB_INSTRUCTOR_PASSWORD": PASSWORD}
    with running_app(OUTPUT_DIR / "server-class-view.log", env=env) as base:
        yield base, data_dir, attempt, essay, result


@pytest.mark.timeout(900)
def test_class_view_end_to_end(page, class_server, tmp_path):
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect

    base, data_dir, attempt, essay, result = class_server
    page.goto(base + "instructor")
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    box = page.get_by_label("Instructor password")
    box.wait_for()  # a fresh server's first request reruns once through app.py
    wait_for_app_idle(page)
    box.fill("not it")
    page.get_by_role("button", name="Open the class view").click()
    main.get_by_text("That is not the instructor password").wait_for()
    assert main.get_by_role("tab").count() == 0

    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Open the class view").click()
    main.get_by_role("tab", name="Essays to review").wait_for()
    wait_for_app_idle(page)
    # The metrics are drawn once their columns have been measured: wait for them, not just for
    # the script to finish.
    metric = main.locator('[data-testid="stMetric"]', has_text="Learners with a submission")
    expect(metric.locator('[data-testid="stMetricValue"]')).to_have_text("1", timeout=30_000)
    expect(
        main.locator('[data-testid="stMetric"]', has_text=re.compile(r"^Attempts")).locator(
            '[data-testid="stMetricValue"]'
        )
    ).to_have_text("1", timeout=30_000)
    assert not page_problems(page)
    screenshot(page, "class-view-overview")
    violations = [v for v in Axe().run(page).response["violations"] if v.get("impact") in BLOCKING]
    assert not violations, "\n".join(describe(v) for v in violations)

    main.get_by_role("tab", name="Essays to review").click()
    expander = main.locator('[data-testid="stExpander"]', has_text="Katherine Johnson").first
    expander.locator("summary").click()
    score = expander.get_by_label("Reviewed score (%)")
    score.fill("40")
    score.press("Enter")
    expander.get_by_label("Note to the learner (optional)").fill("Say why the sum is exact.")
    expander.get_by_label("Note to the learner (optional)").press("Enter")
    wait_for_app_idle(page)
    expander.get_by_role("button", name="Save the reviewed score").click()
    main.get_by_text("Saved: 40% for this answer").wait_for()
    screenshot(page, "class-view-essay-review")
    store = LearnerStore.from_url(default_url(data_dir))
    assert store.reviews([attempt]) == {attempt: {essay.id: (0.4, "Say why the sum is exact.")}}
    store.engine.dispose()

    main.get_by_role("tab", name="Export").click()
    with page.expect_download() as download:
        main.get_by_role("button", name="Download the class results (CSV)").click()
    text = Path(download.value.path()).read_text()
    header = next(csv.reader(io.StringIO(text)))
    assert header[:6] == ["attempt", "learner", "learner id", "bank", "submitted_utc", "score"]
    assert "Katherine Johnson" in text and f"item:{essay.id}" in text

    main.get_by_role("tab", name="Check a question bank").click()
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: broken\ntitle: Broken\nkind: checkpoint\nitems: []\n")
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(broken))
    main.get_by_text("Not ready to publish").wait_for()
    screenshot(page, "class-view-bank-check")
    assert not page_problems(page)
