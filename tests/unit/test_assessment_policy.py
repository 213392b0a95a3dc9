"""When learner code may run: localhost by default, a hosted copy only when the instructor says."""

import pytest

from core.assessment.policy import code_execution, host_name


@pytest.mark.parametrize(
    "header, expected",
    [
        ("localhost:8501", "localhost"),
        ("127.0.0.1:8501", "127.0.0.1"),
        ("[::1]:8501", "[::1]"),
        ("LocalHost", "localhost"),
        ("lab.example.org", "lab.example.org"),
        ("my-app.streamlit.app:443", "my-app.streamlit.app"),
        ("", None),
        (None, None),
    ],
)
def test_host_name_drops_the_port(header, expected):
    assert host_name(header) == expected


@pytest.mark.parametrize("header", ["localhost:8501", "127.0.0.1:8502", "[::1]:8501"])
def test_on_by_default_on_the_learners_own_machine(header):
    policy = code_execution(header)
    assert policy.enabled and "localhost" in policy.reason and policy.problem is None


@pytest.mark.parametrize(
    "header", ["my-app.streamlit.app", "10.0.0.5:8501", None, "localhost.evil.example"]
)
def test_off_by_default_anywhere_else(header):
    policy = code_execution(header)
    assert not policy.enabled and "hosted copy" in policy.reason


@pytest.mark.parametrize("setting", ["on", "ON", " true ", "yes", "1", True])
def test_the_instructor_can_turn_it_on_for_a_hosted_copy(setting):
    assert code_execution("my-app.streamlit.app", setting).enabled


@pytest.mark.parametrize("setting", ["off", "false", "0", False])
def test_off_wins_even_on_localhost(setting):
    policy = code_execution("localhost:8501", setting)
    assert not policy.enabled and "switched off" in policy.reason


def test_auto_and_unset_follow_the_host():
    for setting in ("auto", "", None):
        assert code_execution("localhost:8501", setting).enabled
        assert not code_execution("example.org", setting).enabled


def test_a_setting_that_is_not_understood_is_reported_and_treated_as_auto():
    policy = code_execution("example.org", "sometimes")
    assert not policy.enabled
    assert "'sometimes'" in policy.problem and "on, off or auto" in policy.problem
    assert code_execution("localhost", "sometimes").enabled
