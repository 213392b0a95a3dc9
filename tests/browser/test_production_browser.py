"""The Production page in Chromium: who gets the folder option, and a readable component map.

This module starts its own server on the loopback address (with the hub switched off) and checks
that a direct loopback connection is offered folders on the server, while the same browser
reaching the server through a reverse proxy on this machine is not.

The proxy is real (tests/reverse_proxy.py, an asyncio relay on 127.0.0.1): Chromium talks to it,
and it relays every HTTP request and the WebSocket upgrade of ``/_stcore/stream`` to the server,
adding a forwarding header to each, as nginx would. The test does not rely on what a browser
sends itself (a context's ``extra_http_headers`` need not reach the WebSocket upgrade, where
the app reads its headers). Two headers are tried:

- ``X-Forwarded-For: 203.0.113.9``: Streamlit's server (uvicorn) trusts it from a loopback peer
  by default and reports 203.0.113.9 as the client, so the app refuses on the address already;
- ``Forwarded: for=203.0.113.9`` (RFC 7239), which uvicorn does not read: only the app's own
  forwarding-header rule (``FORWARDING_HEADERS`` in ui/production_ui.py) refuses it.

A control sends the same traffic through the same proxy without any added header and is offered
folders: the proxy works, and the header makes the difference. Remote addresses are covered by
the unit tests of ``local_access_allowed`` (tests/unit/test_production_access.py): no test sends
traffic to any address but loopback (203.0.113.9 only ever appears inside a header).
"""

from __future__ import annotations

import pytest

from tests.reverse_proxy import DOCUMENTATION_ADDRESS, ReverseProxy

from .conftest import (
    OUTPUT_DIR,
    SKIP_BROWSER,
    SKIP_REASON,
    running_app,
    wait_for_app_idle,
)

pytestmark = [pytest.mark.browser, pytest.mark.skipif(SKIP_BROWSER, reason=SKIP_REASON)]

FOLDER_OPTION = "A folder on this computer"
LOG = OUTPUT_DIR / "streamlit-production-server.log"


@pytest.fixture(scope="module")
def server_port():
    """The app on loopback with the hub switched off (folders are the point here)."""
    with running_app(LOG, env={"HF_HUB_OFFLINE": "1"}) as base:
        yield int(base.rstrip("/").rsplit(":", 1)[1])


def _open(browser, url: str, *, width: int = 1400):
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(120_000)
    pg = context.new_page()
    pg.goto(url)
    wait_for_app_idle(pg)
    pg.locator('[data-testid="stMain"]').get_by_text("Showing", exact=False).first.wait_for()
    return context, pg


def _source_options(pg) -> list[str]:
    """The labels of the page's "Model source" radio, once it is drawn."""
    radio = pg.locator('[data-testid="stRadio"]', has_text="Bundled").first
    radio.locator("label").first.wait_for(state="visible")
    wait_for_app_idle(pg)
    return [t.strip() for t in radio.locator("label").all_inner_texts() if t.strip()]


@pytest.mark.timeout(300)
def test_a_loopback_connection_is_offered_folders(browser, server_port):
    context, pg = _open(browser, f"http://127.0.0.1:{server_port}/production")
    try:
        assert any(FOLDER_OPTION in o for o in _source_options(pg))
    finally:
        context.close()


def _options_through(browser, proxy: ReverseProxy) -> list[str]:
    """The "Model source" options of the Production page, opened through ``proxy``."""
    context, pg = _open(browser, f"http://127.0.0.1:{proxy.port}/production")
    try:
        options = _source_options(pg)
    finally:
        context.close()
    # The page really went through the proxy: its WebSocket too, answered by the server.
    streams = [r for r in proxy.requests if r.websocket and r.target.startswith("/_stcore/stream")]
    assert streams, f"no WebSocket upgrade went through the proxy: {proxy.requests}"
    assert all(r.status.startswith("HTTP/1.1 101") for r in streams), streams
    return options


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "header",
    [("X-Forwarded-For", DOCUMENTATION_ADDRESS), ("Forwarded", f"for={DOCUMENTATION_ADDRESS}")],
    ids=["x-forwarded-for", "forwarded"],
)
def test_a_reverse_proxy_on_this_machine_is_not_a_local_learner(browser, server_port, header):
    with ReverseProxy(server_port, add_headers=[header]) as proxy:
        options = _options_through(browser, proxy)
    assert any("Bundled" in o for o in options)
    assert not any(FOLDER_OPTION in o for o in options), options


@pytest.mark.timeout(300)
def test_the_same_proxy_without_a_forwarding_header_is_offered_folders(browser, server_port):
    """The control: the relay itself changes nothing the app reads but the header."""
    with ReverseProxy(server_port, add_headers=()) as proxy:
        options = _options_through(browser, proxy)
    assert any("Bundled" in o for o in options)
    assert any(FOLDER_OPTION in o for o in options), options


@pytest.mark.timeout(300)
@pytest.mark.parametrize("width", [800, 1400])
def test_the_tables_wrap_instead_of_clipping(browser, server_port, width):
    context, pg = _open(browser, f"http://127.0.0.1:{server_port}/production", width=width)
    try:
        tables = pg.locator('[data-testid="stTable"]')
        tables.nth(2).wait_for(state="visible")  # the page may still be drawing section 2
        wait_for_app_idle(pg)
        assert tables.count() == 3  # architecture, parameters, component map
        shots = OUTPUT_DIR / "screenshots"
        shots.mkdir(parents=True, exist_ok=True)
        for i in range(tables.count()):
            table = tables.nth(i)
            table.scroll_into_view_if_needed()
            clipped = pg.evaluate(
                """(el) => {
                     const out = [];
                     for (const cell of el.querySelectorAll('th, td')) {
                       if (cell.scrollWidth > cell.clientWidth + 1) out.push(cell.innerText.slice(0, 40));
                     }
                     const main = document.querySelector('[data-testid="stMain"]').getBoundingClientRect();
                     const box = el.getBoundingClientRect();
                     if (box.right > main.right + 1) out.push('table wider than the page');
                     const inner = el.querySelector('table');
                     if (inner && inner.scrollWidth > el.clientWidth + 1) out.push('scrolls sideways');
                     return out;
                   }""",
                table.element_handle(),
            )
            assert clipped == [], f"table {i} at {width} px"
        assert "45.5 %" in tables.nth(2).inner_text()
        tables.nth(2).screenshot(path=str(shots / f"production-component-map-{width}px.png"))
    finally:
        context.close()
