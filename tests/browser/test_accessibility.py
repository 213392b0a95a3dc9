"""Accessibility and layout of every page, in Chromium: an axe-core audit (no serious or critical
violation) and full-page screenshots at 1400 px and 800 px wide for a person to look at.

axe-core comes from the axe-playwright-python package (the script ships inside the wheel, so
nothing is downloaded at run time).
"""

from __future__ import annotations

import pytest

from core.lesson import LESSON

from .conftest import SKIP_BROWSER, SKIP_REASON, VIEWPORT, screenshot, wait_for_app_idle

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

SLUGS = [p.slug for p in LESSON.pages]
BLOCKING = {"serious", "critical"}


def open_and_settle(pg, url: str) -> None:
    pg.goto(url)
    wait_for_app_idle(pg)
    pg.wait_for_selector('[data-testid="stMain"] h1', state="visible")
    pg.wait_for_timeout(1_500)  # charts finish drawing
    wait_for_app_idle(pg)


def describe(violation: dict) -> str:
    nodes = violation.get("nodes", [])
    where = "; ".join(" ".join(map(str, n.get("target", []))) for n in nodes[:4])
    summary = nodes[0].get("failureSummary", "").replace("\n", " ")[:300] if nodes else ""
    return (
        f"[{violation['impact']}] {violation['id']}: {violation['help']} "
        f"({len(nodes)} node(s): {where}) {summary}"
    )


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("slug", SLUGS)
def test_axe_finds_no_serious_or_critical_violation(page, app_url, slug):
    from axe_playwright_python.sync_playwright import Axe

    open_and_settle(page, app_url + ("" if slug == "home" else slug))
    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v.get("impact") in BLOCKING]
    assert not blocking, f"{slug}: " + "\n".join(describe(v) for v in blocking)


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("width", [VIEWPORT["width"], 800])
def test_every_page_at_desktop_and_narrow_width(browser, app_url, width):
    """Screenshots of every page at this width (test-output/screenshots/<page>-<width>.png);
    nothing may overflow the main column sideways."""
    context = browser.new_context(viewport={"width": width, "height": 900})
    pg = context.new_page()
    overflowing = []
    try:
        for slug in SLUGS:
            open_and_settle(pg, app_url + ("" if slug == "home" else slug))
            screenshot(pg, f"{slug}-{width}")
            too_wide = pg.evaluate(
                """() => { const m = document.querySelector('[data-testid="stMain"]');
                           return m ? m.scrollWidth - m.clientWidth : 0; }"""
            )
            if too_wide > 2:
                overflowing.append(f"{slug}: {too_wide}px wider than the window")
    finally:
        context.close()
    assert not overflowing, overflowing
