"""Who may load models from folders on the server: a learner on the same machine, only.

The decision rests on the connection (``st.context.ip_address``, None exactly when the TCP peer
is loopback); a live request is required (headers present); proxy forwarding headers and the
operator's ``LAB_DISABLE_LOCAL_MODELS`` only ever take the permission away.
"""

import inspect

import pytest

import ui.production_ui as production_ui
from ui.production_ui import (
    DISABLE_LOCAL_ENV,
    FORWARDING_HEADERS,
    local_access_allowed,
    local_folders_allowed,
)

BROWSER = {"host": "localhost:8501", "user-agent": "Mozilla/5.0", "accept-language": "en"}


def test_a_loopback_peer_with_a_live_request_is_local():
    assert local_access_allowed(None, BROWSER, {}) is True


@pytest.mark.parametrize(
    "ip",
    ["203.0.113.7", "10.0.0.3", "192.168.1.20", "2001:db8::1", "::ffff:127.0.0.1", "127.0.0.2"],
)
def test_any_peer_address_streamlit_reports_is_remote(ip):
    # Streamlit reports None only for 127.0.0.1 and ::1; every other address is refused,
    # including loopback forms it does not normalise (conservative).
    assert local_access_allowed(ip, BROWSER, {}) is False


def test_no_live_request_means_no_permission():
    assert local_access_allowed(None, {}, {}) is False
    assert local_access_allowed(None, None, {}) is False


@pytest.mark.parametrize(
    "header",
    [
        "X-Forwarded-For",
        "x-forwarded-for",
        "Forwarded",
        "X-Real-Ip",
        "X-REAL-IP",
        "X-Forwarded-Host",
        "Via",
    ],
)
def test_a_same_machine_reverse_proxy_is_not_a_local_learner(header):
    assert local_access_allowed(None, {**BROWSER, header: "198.51.100.4"}, {}) is False


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_operator_can_switch_folders_off(value):
    assert local_access_allowed(None, BROWSER, {DISABLE_LOCAL_ENV: value}) is False


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_other_values_leave_the_decision_to_the_connection(value):
    assert local_access_allowed(None, BROWSER, {DISABLE_LOCAL_ENV: value}) is True


def test_a_host_header_cannot_grant_the_permission():
    """The old rule trusted Host: localhost. A remote peer saying so is still remote."""
    spoofed = {"host": "localhost", "x-custom": "127.0.0.1"}
    assert local_access_allowed("203.0.113.7", spoofed, {}) is False


def test_headers_only_take_the_permission_away():
    # For any header set, adding headers never turns a refusal into a permission.
    for ip in (None, "203.0.113.7"):
        for env in ({}, {DISABLE_LOCAL_ENV: "1"}):
            base = local_access_allowed(ip, BROWSER, env)
            for extra in (
                {"host": "127.0.0.1"},
                {"x-forwarded-for": "127.0.0.1"},
                {"forwarded": "for=127.0.0.1"},
            ):
                assert local_access_allowed(ip, {**BROWSER, **extra}, env) <= base


def test_forwarding_headers_are_lower_case_names():
    assert {"x-forwarded-for", "forwarded", "x-real-ip"} <= set(FORWARDING_HEADERS)
    assert all(h == h.lower() for h in FORWARDING_HEADERS)


def test_outside_a_streamlit_request_folders_are_not_allowed():
    assert local_folders_allowed() is False


def test_the_page_reads_the_connection_not_the_host_header():
    source = inspect.getsource(production_ui.local_folders_allowed)
    assert "st.context.ip_address" in source and '"Host"' not in source
