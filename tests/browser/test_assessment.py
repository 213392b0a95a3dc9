"""The final assessment and a checkpoint, taken in Chromium the way a learner does."""

from __future__ import annotations

import pytest

from core.assessment import bank_path, load_bank
from core.assessment.live import answer_key
from tests.unit.test_assessment_banks import GOOD_CODE, MODEL_ANSWERS

from .conftest import SKIP_BROWSER, SKIP_REASON, screenshot, wait_for_app_idle
from .test_pages import page_problems

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]


def tick(pg, option: str) -> None:
    pg.locator('[data-testid="stCheckbox"]', has_text=option).first.click()


@pytest.mark.timeout(600)
@pytest.mark.parametrize("mode", ["run", "not run"])
def test_final_assessment_end_to_end(page, mode, request):
    url = request.getfixturevalue("app_url" if mode == "run" else "hosted_app_url")
    bank = load_bank(bank_path("summative"))
    page.goto(url + "assessment")
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    assert main.locator("h1").first.inner_text() == "Final assessment"
    for n, item in enumerate(bank.items, start=1):
        if item.type == "coding":
            how = "run in a sandbox when you submit" if mode == "run" else "read, not run"
            box = page.get_by_role("textbox", name=f"Your code for question {n} ({how})")
            box.fill(GOOD_CODE)
        elif item.type == "multiple_select":
            for option in item.correct:
                tick(page, option)
        elif item.type == "essay":
            box = page.get_by_role(
                "textbox", name=f"Your answer to question {n} (at least {item.min_words} words)"
            )
            box.fill(MODEL_ANSWERS[item.id])
    page.get_by_role("button", name="Review my answers").click()
    main.get_by_role("heading", name="Review your answers").wait_for()
    wait_for_app_idle(page)
    assert main.get_by_text("Not answered yet").count() == 0
    screenshot(page, f"assessment-review-{mode.replace(' ', '-')}")
    page.get_by_role("button", name="Submit final answers").click()
    main.get_by_role("heading", name="Your result").wait_for()
    wait_for_app_idle(page)
    main.locator('[data-testid="stDownloadButton"]').nth(1).wait_for()
    alert = main.locator('[data-testid="stAlert"]').first.inner_text()
    assert "Passed: 100%" in alert and "Ready for advanced circuit analysis" in alert
    assert main.locator('[data-testid="stDownloadButton"]').count() == 2
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "Final assessment: passed, best 100%" in sidebar
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=stVegaLiteChart] svg, "
        "[data-testid=stVegaLiteChart] canvas').length >= 1"
    )
    coding = main.locator('[data-testid="stExpander"]', has_text="Question 1:").first
    coding.locator("summary").click()  # full marks: the expander starts collapsed
    if mode == "run":
        coding.get_by_text("Tests run in a sandbox: 10 of 10 passed").wait_for()
        assert "reordering the heads changes nothing" in coding.inner_text()
    else:
        coding.get_by_text("not run: graded on structure").first.wait_for()
        assert "Tests run in a sandbox" not in coding.inner_text()
    screenshot(page, f"assessment-result-{mode.replace(' ', '-')}")
    assert not page_problems(page)


@pytest.mark.timeout(600)
def test_checkpoint_on_the_architecture_page(page, app_url):
    bank = load_bank(bank_path("checkpoint_1"))
    page.goto(app_url + "architecture")
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    for n, item in enumerate(bank.items, start=1):
        if item.type == "multiple_choice":
            main.locator('[data-testid="stRadio"]', has_text=f"Answer to question {n}").get_by_text(
                item.correct, exact=True
            ).click()
        elif item.type == "multiple_select":
            for option in item.correct:
                tick(page, option)
        elif item.type == "essay":
            page.get_by_role(
                "textbox", name=f"Your answer to question {n} (at least {item.min_words} words)"
            ).fill(MODEL_ANSWERS[item.id])
        elif item.type == "model_number":
            box = page.get_by_role("spinbutton", name=f"Answer to question {n} (a number)")
            box.fill(str(answer_key(item).correct))
            box.press("Tab")
    page.get_by_role("button", name="Submit answers").click()
    main.get_by_text("Passed: 100%").wait_for()
    wait_for_app_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    assert "1 of 3 checkpoints passed" in sidebar
    assert "Checkpoint 1 (Architecture): passed, best 100%" in sidebar
    screenshot(page, "checkpoint-1-passed")
    assert not page_problems(page)
