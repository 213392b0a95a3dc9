"""A client's ``clear_cache`` message does not reach Streamlit (ui/backmsg_filter.py), checked
against a real ``streamlit run app.py`` over Streamlit's protocol.

Streamlit (1.67) would empty ``st.cache_resource`` and ``st.cache_data`` for every session and
clear the sender's own session state. The second effect is what this test can see from outside:
a learner's session keeps its resume code across the message only if the message was dropped
(without the filter, the next run starts a new learner with a new code)."""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from st_client import Session, run_sync  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402

CODE = re.compile(r"^[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}-[A-HJKMNP-Z2-9]{4}$")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.server.test_load_server import _bench

    bench = _bench()
    log = tmp_path_factory.mktemp("server") / "server.log"
    proc, base = bench.start_server(tempfile.mkdtemp(prefix="lab-clear-cache-"), log)
    yield base, log
    proc.terminate()
    proc.wait(timeout=20)


def _code(result) -> str:
    codes = [t for t in result.texts if CODE.match(t)]
    assert len(codes) == 1, result.texts[-12:]
    return codes[0]


async def _walk(base: str) -> tuple[str, str, str]:
    async with Session(base) as learner, Session(base) as stranger:
        first = _code(await learner.open("circuits"))
        await stranger.open("")
        for kind in ("clear_cache", "load_git_info"):
            msg = BackMsg()
            setattr(msg, kind, True)
            await stranger.send_raw(msg)
        await learner.send_raw(BackMsg(clear_cache=True))  # even from the learner's own tab
        again = _code(await learner.rerun())
        other = _code(await stranger.rerun())
        return first, again, other


@pytest.mark.timeout(600)
def test_clear_cache_from_a_client_is_dropped_before_streamlit_sees_it(server):
    base, log = server
    first, again, other = run_sync(_walk(base))
    assert again == first  # the learner's session state survived: nothing was cleared
    assert other != first
    text = log.read_text()
    assert text.count("Dropped a clear_cache message from a client") == 2
    assert "Dropped a load_git_info message from a client" in text
