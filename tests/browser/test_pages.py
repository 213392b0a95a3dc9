"""Browser tests: every lesson page renders in Chromium without an error.

The pages are read from the app's own sidebar navigation, so a page added to `app.py` is covered
without touching this file. Each visited page is saved as a full-page screenshot under
`test-output/screenshots/<page>.png` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import pytest

from .conftest import (
    SERVER_LOG,
    SKIP_BROWSER,
    SKIP_REASON,
    screenshot,
    server_log_tail,
    slugify,
    wait_for_app_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

# Pages that must always be in the navigation (by link text). Others found there are visited too.
REQUIRED_PAGES = [
    "Home",
    "Architecture",
    "Residual stream",
    "Production mapping",
    "Final assessment",
]

NAV_LINK = '[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]'
NAV_VIEW_MORE = '[data-testid="stSidebarNavViewButton"]'


def read_nav_links(pg, app_url: str) -> list[tuple[str, str]]:
    """(link text, absolute URL) for every page in the sidebar navigation."""
    pg.goto(app_url)
    wait_for_app_idle(pg)
    pg.wait_for_selector(NAV_LINK)
    # With many pages Streamlit folds the list behind a "View more" button.
    more = pg.locator(NAV_VIEW_MORE)
    if more.count() and "more" in more.first.inner_text().lower():
        more.first.click()
    links = []
    for link in pg.locator(NAV_LINK).all():
        # The link holds a Material icon (its ligature name is text) and the label: read the label.
        label = link.locator('[data-testid="stMarkdownContainer"]')
        text = (label.first.inner_text() if label.count() else link.inner_text()).strip()
        href = link.get_attribute("href") or ""
        if href.startswith("/"):
            href = app_url.rstrip("/") + href
        elif not href.startswith("http"):
            href = app_url + href
        links.append((text, href))
    return links


def page_problems(pg) -> list[str]:
    """What is wrong with the page now showing: nothing, if it rendered cleanly."""
    problems = []
    h1 = pg.locator('[data-testid="stMain"] h1').first
    if not pg.locator('[data-testid="stMain"] h1').count():
        problems.append("no h1 heading in the main area")
    elif not h1.is_visible():
        problems.append("the h1 heading is not visible")
    elif not h1.inner_text().strip():
        problems.append("the h1 heading is empty")
    exceptions = pg.locator('[data-testid="stException"]')
    if exceptions.count():
        problems.append(
            f"{exceptions.count()} exception box(es): " + exceptions.first.inner_text()[:500]
        )
    body = pg.locator("body").inner_text()
    if "Traceback" in body:
        problems.append("the text 'Traceback' is on the page")
    return problems


def test_sidebar_lists_lesson_pages(page, app_url):
    links = read_nav_links(page, app_url)
    texts = [text for text, _ in links]
    assert len(links) >= 2, f"expected at least 2 pages in the sidebar, found {texts}"
    for required in REQUIRED_PAGES:
        assert required in texts, f"{required!r} missing from the sidebar navigation {texts}"
    assert len({href for _, href in links}) == len(links), f"duplicate page URLs: {links}"


@pytest.mark.timeout(900)
def test_every_page_renders_without_error(page, app_url):
    """Open each page from the sidebar; each shows a heading, no exception, no traceback."""
    links = read_nav_links(page, app_url)
    assert links, "no pages in the sidebar navigation"
    failures = []
    visited = []
    for text, href in links:
        page.goto(href)
        try:
            wait_for_app_idle(page)
            page.wait_for_selector('[data-testid="stMain"] h1', state="visible", timeout=30_000)
        except Exception as exc:  # noqa: BLE001 - report every page, not just the first
            failures.append(f"{text} ({href}): did not finish loading: {exc}")
            screenshot(page, text)
            continue
        shot = screenshot(page, text)
        problems = page_problems(page)
        if page.console_errors:
            problems_note = f" [browser errors: {page.console_errors[-3:]}]"
        else:
            problems_note = ""
        if problems:
            failures.append(f"{text} ({href}): {'; '.join(problems)}{problems_note} — see {shot}")
        visited.append(slugify(text))
    assert not failures, (
        "pages with problems:\n"
        + "\n".join(failures)
        + f"\n\nServer log tail ({SERVER_LOG}):\n{server_log_tail(40)}"
    )
    assert len(visited) == len(links)


# --- Architecture page, as a learner sees it --------------------------------------------------
ARCHITECTURE_CHARTS = 10  # norm, attention, entropy, 2 singular values, QK terms, 2 token slices,
#                          decomposition by layer and by head


def nav_labels(pg) -> list[str]:
    labels = []
    for link in pg.locator(NAV_LINK).all():
        label = link.locator('[data-testid="stMarkdownContainer"]')
        labels.append((label.first.inner_text() if label.count() else link.inner_text()).strip())
    return labels


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "path, heading", [("architecture", "Architecture"), ("residual_stream", "Residual stream")]
)
def test_deep_link_on_a_fresh_server_goes_through_app_navigation(browser, path, heading):
    """The first request a new server gets is a deep link: it must still run app.py's navigation.

    (Streamlit serves a fresh server's first run in its old pages-directory mode and runs
    pages/<name>.py as a script; without the reroute at the end of every page module the learner
    would see 'Page not found' or the navigation labels 'app', 'architecture', 'home'.)
    """
    from .conftest import OUTPUT_DIR, running_app

    with running_app(OUTPUT_DIR / f"streamlit-fresh-server-{path}.log") as base:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        pg = context.new_page()
        pg.goto(base + path)
        wait_for_app_idle(pg)
        pg.wait_for_timeout(1_000)
        wait_for_app_idle(pg)
        assert pg.locator('[data-testid="stMain"] h1').first.inner_text().startswith(heading)
        from core.lesson import LESSON
        from ui.navigation import INSTRUCTOR_TITLE

        assert nav_labels(pg) == [p.title for p in LESSON.pages] + [INSTRUCTOR_TITLE]
        assert pg.title() == "Transformer Architecture Lab"
        assert pg.get_by_text("Page not found").count() == 0
        assert pg.locator('[data-testid="stDialog"]').count() == 0
        assert not page_problems(pg)
        context.close()


def test_architecture_page_shows_every_block_with_real_data(page, app_url):
    page.goto(app_url + "architecture")
    wait_for_app_idle(page)
    page.wait_for_selector('[data-testid="stGraphVizChart"] svg', state="attached")
    page.wait_for_function(
        f'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] svg, '
        f'[data-testid="stVegaLiteChart"] canvas\').length >= {ARCHITECTURE_CHARTS}'
    )
    screenshot(page, "architecture-content")
    assert not page_problems(page)
    main = page.locator('[data-testid="stMain"]')
    for heading in (
        "1. How information flows",
        "2. Your model",
        "4. The residual stream",
        "5. Attention patterns",
        "6. QK and OV circuits",
        "7. The exact path",
        "8. Heads in sequence",
    ):
        assert main.get_by_text(heading).count() >= 1, heading
    # Every chart exposes its description as its accessible name.
    labels = [
        c.get_attribute("aria-label") or ""
        for c in page.locator('[data-testid="stVegaLiteChart"] [aria-label]').all()
    ]
    assert sum(1 for lab in labels if len(lab) > 40) >= ARCHITECTURE_CHARTS
    # The decomposition's reconstruction error is a small number, not a placeholder.
    err = (
        page.locator('[data-testid="stMetric"]', has_text="Sum of parts")
        .locator('[data-testid="stMetricValue"]')
        .inner_text()
    )
    assert float(err) < 1e-5


def test_bad_token_input_shows_a_message_in_the_browser(page, app_url):
    page.goto(app_url + "architecture")
    wait_for_app_idle(page)
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stRadio"] label', has_text="Token ids typed below").click()
    box = page.get_by_role("textbox", name="Token ids (comma or space separated)")
    box.fill("1, 2, -5")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_selector('[data-testid="stAlert"]')
    wait_for_app_idle(page)
    alert = page.locator('[data-testid="stAlert"]').first.inner_text()
    assert "Entry 3, -5, is out of range" in alert
    screenshot(page, "architecture-bad-input")
    assert not page_problems(page)


def test_residual_stream_page_shows_its_tables_and_charts(page, app_url):
    page.goto(app_url + "residual_stream")
    wait_for_app_idle(page)
    # norm, similarity, effective rank, spectrum, information types (the decomposition chart is
    # on the Architecture page only)
    page.wait_for_function(
        'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] svg, '
        '[data-testid="stVegaLiteChart"] canvas\').length >= 5'
    )
    screenshot(page, "residual-stream-content")
    assert not page_problems(page)
    main = page.locator('[data-testid="stMain"]')
    assert main.locator('[data-testid="stDataFrame"]').count() >= 1
    assert "NaN" not in main.inner_text()
    assert main.get_by_text("Cap: min(tokens, d_model)").count() == 1


def choose_model(pg, label_start: str) -> None:
    """Pick the sidebar's Model option whose label starts with ``label_start``."""
    sidebar = pg.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stSelectbox"]', has_text="Model").first.click()
    pg.get_by_role("option").filter(has_text=label_start).first.click()


def test_residual_stream_page_follows_a_changed_model(page, app_url):
    page.goto(app_url + "residual_stream")
    wait_for_app_idle(page)
    choose_model(page, "Random weights")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Random-weights model (used when Model is Random weights)").click()
    page.get_by_role("spinbutton", name="Layers (n_layer)").fill("2")
    page.get_by_role("spinbutton", name="Seed").fill("7")
    sidebar.locator('[data-testid="stRadio"] label', has_text="Token ids typed below").click()
    page.get_by_role("textbox", name="Token ids (comma or space separated)").fill("5, 9, 5, 9, 5")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_timeout(500)
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Model: random weights: 2 layers × 8 heads").wait_for()
    assert (
        main.get_by_text("seed 7; input: 5 tokens (0 · %, 1 · ), 2 · %, 3 · ), 4 · %)").count() == 1
    )
    page.wait_for_function(
        'document.querySelectorAll(\'[data-testid="stVegaLiteChart"] svg, '
        '[data-testid="stVegaLiteChart"] canvas\').length >= 5'
    )
    screenshot(page, "residual-stream-changed-model")
    assert not page_problems(page)
    assert "NaN" not in main.inner_text()


@pytest.mark.timeout(600)
def test_production_page_runs_the_bundled_model_on_my_sentence(page, app_url):
    page.goto(app_url + "production")
    wait_for_app_idle(page)
    main = page.locator('[data-testid="stMain"]')
    main.get_by_text("Showing the bundled tiny GPT-2").wait_for()
    box = page.get_by_role("textbox", name="Your sentence")
    box.fill("The river flows through the old town and into the")
    box.press("Enter")
    page.wait_for_timeout(500)
    wait_for_app_idle(page)
    main.get_by_text("11 tokens", exact=True).wait_for()
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=stVegaLiteChart] svg, "
        "[data-testid=stVegaLiteChart] canvas').length >= 7"
    )
    screenshot(page, "production-my-sentence")
    assert not page_problems(page)
    assert "Top next-token predictions" in main.inner_text()


def test_text_input_runs_through_the_tokenizer_on_the_chosen_model(page, app_url):
    """Pick the trained 2-layer model, type a sentence: the sidebar shows its tokens and the page
    runs that model on them."""
    page.goto(app_url + "architecture")
    wait_for_app_idle(page)
    choose_model(page, "Trained: 2 layers")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.locator('[data-testid="stRadio"] label', has_text="Text typed below").click()
    page.get_by_role("textbox", name="Text (split into tokens by the bundled tokenizer)").fill(
        "The keeper climbed the stairs of the lighthouse."
    )
    page.get_by_role("button", name="Apply").click()
    page.wait_for_timeout(500)
    wait_for_app_idle(page)
    sidebar.get_by_text("Trained: 2 layers × 4 heads", exact=False).first.wait_for()
    caption = sidebar.locator('[data-testid="stCaptionContainer"]').last.inner_text()
    assert "`16 · ouse`" in caption or "16 · ouse" in caption
    main = page.locator('[data-testid="stMain"]')
    assert (
        main.locator('[data-testid="stMetric"]', has_text="Layers")
        .locator('[data-testid="stMetricValue"]')
        .inner_text()
        == "2"
    )
    screenshot(page, "architecture-text-input")
    assert not page_problems(page)
