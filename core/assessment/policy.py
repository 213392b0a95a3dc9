"""Whether learner code may be run on this deployment (pure logic; the page supplies the inputs).

Running learner code is on by default only when the app is served to the learner's own machine
(the browser reached it as ``localhost``), and on a hosted copy only when the instructor turns
it on: ``LAB_RUN_CODE=on`` in the environment or ``run_code = true`` in ``secrets.toml``. The
same setting set to ``off`` switches it off everywhere. ``auto`` (the default) is the localhost
rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
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


def host_name(host_header: str | None) -> str | None:
    """``"localhost:8501"`` → ``"localhost"``; ``"[::1]:8501"`` → ``"[::1]"``; None stays None."""
    if not host_header:
        return None
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def code_execution(host_header: str | None, setting: Any = None) -> ExecutionPolicy:
    """The policy for a request whose ``Host`` header is ``host_header``, given the instructor's
    ``setting`` (``on`` / ``off`` / ``auto``, a bool, or None when unset)."""
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
    if host_name(host_header) in LOCAL_HOSTS:
        return ExecutionPolicy(
            True,
            "Code is run: the app is served to your own machine "
            "(localhost), in a separate process with limits.",
            problem,
        )
    return ExecutionPolicy(
        False,
        "Code is not run: this is a hosted copy and the instructor has "
        "not turned running code on, so coding answers are read and "
        "graded on their structure (marked \u201cnot run\u201d).",
        problem,
    )
