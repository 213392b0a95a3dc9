"""An ASGI middleware that drops the messages a learner's browser never needs to send to a
shared server, before Streamlit sees them.

Why: Streamlit (1.67) lets any client send ``clear_cache`` over the app's websocket, and the
server empties ``st.cache_resource`` and ``st.cache_data`` for *every* session (its own
docstring: "Because this cache is global, it will be cleared for all users"). No config option
gates it: ``client.toolbarMode = "viewer"`` only hides the menu item. One such message every
half second kept a bystander's Circuits page at about 5 s instead of 0.1 s. Also dropped:
``load_git_info`` (runs ``git`` on the server's event loop and returns branch and file names)
and ``set_run_on_save`` (a developer setting). Every other message passes unchanged; a frame
that does not parse is passed on so Streamlit closes the socket itself.

``app.py`` serves itself through ``st.App(..., middleware=[Middleware(BackMsgFilter)])``, which
``streamlit run app.py`` picks up (Streamlit's supported way to add ASGI middleware).
"""

from __future__ import annotations

import logging

from streamlit.proto.BackMsg_pb2 import BackMsg

LOG = logging.getLogger(__name__)

#: BackMsg types refused on this server.
BLOCKED = frozenset({"clear_cache", "load_git_info", "set_run_on_save"})
STREAM_PATH = "/_stcore/stream"


def blocked_kind(data: bytes | None) -> str | None:
    """The type of a BackMsg frame if this server refuses it, else None."""
    if not data:
        return None
    msg = BackMsg()
    try:
        msg.ParseFromString(data)
    except Exception:  # noqa: BLE001 - not ours to judge: Streamlit closes the socket
        return None
    kind = msg.WhichOneof("type")
    return kind if kind in BLOCKED else None


class BackMsgFilter:
    """ASGI middleware: the app's websocket minus the :data:`BLOCKED` messages."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "websocket" or not scope.get("path", "").endswith(STREAM_PATH):
            await self.app(scope, receive, send)
            return

        async def filtered_receive():
            while True:
                message = await receive()
                if message.get("type") == "websocket.receive":
                    kind = blocked_kind(message.get("bytes"))
                    if kind is not None:
                        LOG.warning(
                            "Dropped a %s message from a client: it would affect every "
                            "session of this server",
                            kind,
                        )
                        continue
                return message

        await self.app(scope, filtered_receive, send)
