"""The ASGI middleware that drops clear_cache and friends (ui/backmsg_filter.py), driven by hand
with ASGI messages: what reaches the app behind it."""

from __future__ import annotations

import asyncio
import threading

from streamlit.proto.BackMsg_pb2 import BackMsg

from ui.backmsg_filter import BLOCKED, BackMsgFilter, blocked_kind


def _frame(**fields) -> bytes:
    msg = BackMsg()
    for name, value in fields.items():
        if name == "rerun_script":
            msg.rerun_script.query_string = value
        else:
            setattr(msg, name, value)
    return msg.SerializeToString()


def _through(scope: dict, messages: list[dict]) -> list[dict]:
    """What the wrapped app receives when a client sends ``messages``."""
    seen: list[dict] = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            seen.append(message)
            if message["type"] == "websocket.disconnect":
                return

    queue = list(messages) + [{"type": "websocket.disconnect", "code": 1000}]

    async def receive():
        return queue.pop(0)

    async def send(_):
        pass

    # In a thread of its own: under pytest another test's Playwright may hold this thread's loop.
    worker = threading.Thread(target=asyncio.run, args=(BackMsgFilter(app)(scope, receive, send),))
    worker.start()
    worker.join(timeout=30)
    return seen


STREAM = {"type": "websocket", "path": "/_stcore/stream"}


def test_only_the_blocked_messages_are_dropped_on_the_apps_websocket():
    rerun = {"type": "websocket.receive", "bytes": _frame(rerun_script="a=1")}
    clear = {"type": "websocket.receive", "bytes": _frame(clear_cache=True)}
    git = {"type": "websocket.receive", "bytes": _frame(load_git_info=True)}
    heartbeat = {"type": "websocket.receive", "bytes": _frame(app_heartbeat=True)}
    seen = _through(STREAM, [rerun, clear, git, heartbeat, clear])
    assert seen == [rerun, heartbeat, {"type": "websocket.disconnect", "code": 1000}]


def test_other_paths_and_unparsable_frames_pass_unchanged():
    clear = {"type": "websocket.receive", "bytes": _frame(clear_cache=True)}
    assert _through({"type": "websocket", "path": "/other"}, [clear])[0] == clear
    junk = {"type": "websocket.receive", "bytes": b"\xff\xfe not protobuf"}
    text = {"type": "websocket.receive", "text": "hello"}
    assert _through(STREAM, [junk, text])[:2] == [junk, text]


def test_the_blocked_kinds_are_exactly_the_three_named():
    assert {"clear_cache", "load_git_info", "set_run_on_save"} == BLOCKED
    assert blocked_kind(_frame(set_run_on_save=True)) == "set_run_on_save"
    assert blocked_kind(_frame(stop_script=True)) is None
    assert blocked_kind(b"") is None
