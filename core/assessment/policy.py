"""Whether learner code may be run on this deployment (pure logic; the page supplies the inputs).

Running learner code is on by default only when the learner's browser is on the machine that
serves the app (decided from the connection by ``core.locality.is_local_peer``, never from a
header such as ``Host``), and on a hosted copy only when the instructor turns it on:
``LAB_RUN_CODE=on`` in the environment or ``run_code = true`` in ``secrets.toml``. The same
setting set to ``off`` switches it off everywhere. ``auto`` (the default) is the local rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SETTING_VALUES = {
    "on": True,
    "true": True,
    "yes": True,
    "1": True,
    "off": False,
    "false": False,
    "no": False,
    "0": False,
    "auto": None,
    "": None,
}


@dataclass(frozen=True)
class ExecutionPolicy:
    enabled: bool
    reason: str  # one sentence for the page
    problem: str | None = None  # a setting that was not understood (shown to the instructor)


def code_execution(local: bool, setting: Any = None) -> ExecutionPolicy:
    """The policy for a request from a browser on this machine (``local``) or not, given the
    instructor's ``setting`` (``on`` / ``off`` / ``auto``, a bool, or None when unset)."""
    problem = None
    if isinstance(setting, bool):
        forced: bool | None = setting
    else:
        text = "" if setting is None else str(setting).strip().lower()
        if text in SETTING_VALUES:
            forced = SETTING_VALUES[text]
        else:
            forced = None
            problem = (
                f"The run-code setting {str(setting)[:40]!r} was not understood; use on, "
                f"off or auto. Using auto."
            )
    if forced is True:
        return ExecutionPolicy(
            True, "Code is run: the instructor turned running code on for this deployment.", problem
        )
    if forced is False:
        return ExecutionPolicy(
            False,
            "Code is not run: running code is switched off for this "
            "deployment, so coding answers are read and graded on "
            "their structure.",
            problem,
        )
    if local:
        return ExecutionPolicy(
            True,
            "Code is run: your browser is on the machine that serves the app, so your "
            "code runs there, in a separate process with limits.",
            problem,
        )
    return ExecutionPolicy(
        False,
        "Code is not run: this is a hosted copy and the instructor has "
        "not turned running code on, so coding answers are read and "
        "graded on their structure (marked \u201cnot run\u201d).",
        problem,
    )
