"""The "Circuits in a trained model" page in Chromium, at a wide and a narrow window.

Uses the session's loopback app server (conftest ``app_url``). Screenshots go to
``test-output/screenshots/circuits-1400.png`` and ``circuits-800.png`` for a person to check.
"""

from __future__ import annotations

import pytest

from .conftest import (
    PAGE_RUN_TIMEOUT_MS,
    SKIP_BROWSER,
    SKIP_REASON,
    screenshot,
    wait_for_app_idle,
)
from .test_pages import page_problems

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

HEADINGS = (
    "1. The direct path as a bigram table",
    "2. Previous-token and induction heads",
    "3. The full OV circuit: which heads copy",
    "4. Positional QK of layer-0 heads",
    "5. Q-, K- and V-composition",
    "6. Direct logit attribution",
    "7. Ablation: a head's total effect",
)
#: At least: direct path, corpus, previous-token, copying, OV outputs, positional pattern,
#: previous share, Q/K/V composition, DLA, per-position ablation, ablation table.
MIN_CHARTS = 13


@pytest.mark.timeout(600)
@pytest.mark.parametrize("width", [1400, 800])
def test_circuits_page_renders_every_section(browser, app_url, width):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(PAGE_RUN_TIMEOUT_MS)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        pg.goto(app_url + "circuits")
        wait_for_app_idle(pg)
        pg.wait_for_function(
            'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] svg, '
            f'[data-testid="stVegaLiteChart"] canvas\').length >= {MIN_CHARTS}'
        )
        main = pg.locator('[data-testid="stMain"]')
        assert main.locator("h1").first.inner_text().startswith("Circuits in a trained model")
        for heading in HEADINGS:
            h = main.locator("h2", has_text=heading)
            assert h.count() == 1, heading
            h.scroll_into_view_if_needed()
            assert h.is_visible(), heading
        shot = screenshot(pg, f"circuits-{width}")
        assert not page_problems(pg), f"see {shot}"
        too_wide = pg.evaluate(
            """() => { const m = document.querySelector('[data-testid="stMain"]');
                       return m ? m.scrollWidth - m.clientWidth : 0; }"""
        )
        assert too_wide <= 2, f"the page is {too_wide}px wider than the window; see {shot}"
        # Every chart is named by its description (aria-label), not left anonymous.
        labels = [
            c.get_attribute("aria-label") or ""
            for c in pg.locator('[data-testid="stVegaLiteChart"] [aria-label]').all()
        ]
        assert sum(1 for lab in labels if len(lab) > 40) >= MIN_CHARTS
        err = (
            pg.locator('[data-testid="stMetric"]', has_text="Sum error")
            .locator('[data-testid="stMetricValue"]')
            .inner_text()
        )
        assert float(err) <= 1e-4
        assert not errors, errors
    finally:
        context.close()
