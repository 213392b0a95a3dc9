"""Whether learner code runs is decided from the connection, never from the Host header,
against a real server: a browser on loopback gets the "run" code box; the same request relayed
by a reverse proxy on this machine (a remote client, whose Host still says 127.0.0.1) gets the
"read, not run" box."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from tests.reverse_proxy import ReverseProxy

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from st_client import Session, run_sync  # noqa: E402

RUN = "Your code for question 1 (run in a sandbox when you submit)"
NOT_RUN = "Your code for question 1 (read, not run)"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.server.test_load_server import _bench

    log = tmp_path_factory.mktemp("policy") / "server.log"
    proc, base = _bench().start_server(
        tempfile.mkdtemp(prefix="lab-policy-"), log, env={"LAB_RUN_CODE": "auto"}
    )
    yield base
    proc.terminate()
    proc.wait(timeout=20)


async def _code_box_labels(base: str) -> set[str]:
    async with Session(base) as s:
        await s.open("assessment")
        return {label for kind, label in s.widgets if kind == "text_area"}


@pytest.mark.timeout(300)
def test_code_runs_for_a_loopback_browser_and_not_through_a_proxy(server):
    direct = run_sync(_code_box_labels(server))
    assert RUN in direct and NOT_RUN not in direct
    port = int(server.rstrip("/").rsplit(":", 1)[1])
    with ReverseProxy(port) as proxy:  # adds X-Forwarded-For; Host stays 127.0.0.1:<port>
        relayed = run_sync(_code_box_labels(f"http://127.0.0.1:{proxy.port}/"))
    assert NOT_RUN in relayed and RUN not in relayed
    assert proxy.requests and proxy.requests[0].websocket
