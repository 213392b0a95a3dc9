"""Throttles of guessing (core/throttle.py), on a clock moved by hand."""

from __future__ import annotations

import pytest

from core.throttle import (
    PASSWORD_PER_SESSION,
    PASSWORD_SERVER,
    RESUME_PER_SESSION,
    RESUME_SERVER,
    Throttle,
    ThrottleRule,
    describe_wait,
)


def test_the_free_failures_cost_nothing_then_each_wait_doubles():
    t = Throttle(ThrottleRule(free=5, window_s=60, base_wait_s=2, max_wait_s=300))
    for i in range(5):
        assert t.wait_s(now=100 + i) == 0
        t.failed(now=100 + i)
    # 5 failures at 100..104: the 6th try waits 2 s after the last failure.
    assert t.wait_s(now=104) == pytest.approx(2)
    assert t.wait_s(now=105) == pytest.approx(1)
    assert t.wait_s(now=106) == 0
    t.failed(now=106)
    assert t.wait_s(now=106) == pytest.approx(4)  # 2 × 2
    t.failed(now=110)
    assert t.wait_s(now=110) == pytest.approx(8)


def test_waits_are_capped_and_old_failures_expire():
    t = Throttle(ThrottleRule(free=1, window_s=60, base_wait_s=10, max_wait_s=30))
    for i in range(6):
        t.failed(now=float(i))
    assert t.wait_s(now=5) == pytest.approx(30)  # 10 × 2^5 capped at 30
    assert t.failures(now=5) == 6
    assert t.wait_s(now=66) == 0  # every failure is older than the window
    assert t.failures(now=66) == 0


def test_a_lockout_closes_the_window_for_its_whole_length():
    t = Throttle(
        ThrottleRule(
            free=100, window_s=600, base_wait_s=1, max_wait_s=1, lockout_after=3, lockout_s=900
        )
    )
    for i in range(3):
        t.failed(now=float(i))
    assert t.wait_s(now=2) == pytest.approx(900)
    assert t.wait_s(now=901) == pytest.approx(1)
    assert t.wait_s(now=902) == 0


def test_a_success_does_not_reset_the_count():
    t = Throttle(RESUME_PER_SESSION)
    for i in range(RESUME_PER_SESSION.free + 1):
        t.failed(now=float(i))
    # Nothing in the API forgets failures but time: a right guess among wrong ones cannot
    # open a fresh allowance.
    assert t.wait_s(now=float(RESUME_PER_SESSION.free)) > 0


def test_the_password_rule_locks_a_session_after_ten_failures():
    t = Throttle(PASSWORD_PER_SESSION)
    now = 0.0
    for _ in range(10):
        now += t.wait_s(now=now)  # a patient guesser waits exactly as long as asked
        t.failed(now=now)
    assert t.wait_s(now=now) == pytest.approx(PASSWORD_PER_SESSION.lockout_s)


@pytest.mark.parametrize(
    "seconds, words",
    [
        (0.2, "1 second"),
        (1, "1 second"),
        (7.1, "8 seconds"),
        (89, "89 seconds"),
        (90, "2 minutes"),
        (900, "15 minutes"),
    ],
)
def test_waits_are_said_in_words_rounded_up(seconds, words):
    assert describe_wait(seconds) == words


@pytest.mark.parametrize(
    "rule, within_s",
    [(RESUME_SERVER, 600), (PASSWORD_SERVER, 600), (PASSWORD_PER_SESSION, 600)],
)
def test_each_documented_lockout_is_reached_by_a_patient_guesser(rule, within_s):
    """A guesser who tries again exactly when allowed makes ``lockout_after`` failures within
    the documented time, and is then shut out for ``lockout_s`` (the README's promises)."""
    t = Throttle(rule)
    now = 0.0
    for _ in range(rule.lockout_after):
        now += t.wait_s(now=now)
        t.failed(now=now)
    assert now <= within_s
    assert t.wait_s(now=now) == pytest.approx(rule.lockout_s)
