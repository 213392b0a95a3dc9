"""When learner code may run: for a browser on the serving machine by default (decided from the
connection, never from the Host header), on a hosted copy only when the instructor says."""

import pytest

from core.assessment.policy import code_execution
from core.locality import FORWARDING_HEADERS, is_local_peer

BROWSER = {"host": "localhost:8501", "user-agent": "Mozilla/5.0", "cookie": ""}


def test_on_by_default_for_a_browser_on_this_machine():
    policy = code_execution(True)
    assert policy.enabled and "your browser is on the machine" in policy.reason
    assert policy.problem is None


def test_off_by_default_anywhere_else():
    policy = code_execution(False)
    assert not policy.enabled and "hosted copy" in policy.reason


@pytest.mark.parametrize("host", ["localhost", "localhost:8501", "127.0.0.1", "[::1]:8501"])
def test_a_remote_peer_that_says_localhost_in_its_host_header_is_not_local(host):
    """The finding: Host is whatever the client sends. Only the TCP peer counts."""
    headers = {**BROWSER, "host": host}
    assert not is_local_peer("203.0.113.9", headers)
    assert not code_execution(is_local_peer("203.0.113.9", headers)).enabled


@pytest.mark.parametrize("host", ["my-app.streamlit.app", "lab.example.org", ""])
def test_a_loopback_peer_is_local_whatever_its_host_header(host):
    assert is_local_peer(None, {**BROWSER, "host": host})


@pytest.mark.parametrize("header", FORWARDING_HEADERS)
def test_a_reverse_proxy_on_this_machine_is_not_local(header):
    assert not is_local_peer(None, {**BROWSER, header.title(): "198.51.100.4"})


def test_no_live_request_is_not_local():
    assert not is_local_peer(None, {}) and not is_local_peer(None, None)


@pytest.mark.parametrize("setting", ["on", "ON", " true ", "yes", "1", True])
def test_the_instructor_can_turn_it_on_for_a_hosted_copy(setting):
    assert code_execution(False, setting).enabled


@pytest.mark.parametrize("setting", ["off", "false", "0", False])
def test_off_wins_even_on_this_machine(setting):
    policy = code_execution(True, setting)
    assert not policy.enabled and "switched off" in policy.reason


def test_auto_and_unset_follow_the_connection():
    for setting in ("auto", "", None):
        assert code_execution(True, setting).enabled
        assert not code_execution(False, setting).enabled


def test_a_setting_that_is_not_understood_is_reported_and_treated_as_auto():
    policy = code_execution(False, "sometimes")
    assert not policy.enabled
    assert "'sometimes'" in policy.problem and "on, off or auto" in policy.problem
    assert code_execution(True, "sometimes").enabled
