"""Is the learner on the machine that serves the app? Decided from the connection only.

``ip_address`` is the WebSocket's TCP peer as Streamlit reports it (``st.context.ip_address``):
None exactly when the peer is 127.0.0.1 or ::1, and also when there is no client at all, hence
the rule on ``headers``. Headers only ever take the answer away: any proxy forwarding header
means the loopback peer is a reverse proxy relaying someone else. The ``Host`` header, which any
client can set to ``localhost``, plays no part.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Headers a reverse proxy adds: their presence means the TCP peer is a proxy, not the learner.
FORWARDING_HEADERS = (
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "x-forwarded-host",
    "x-forwarded-proto",
    "via",
)


def is_local_peer(ip_address: str | None, headers: Mapping[str, str] | None) -> bool:
    """True only for a live browser request (``headers`` not empty) whose TCP peer is loopback
    (``ip_address`` None) and that came through no reverse proxy."""
    if not headers or ip_address is not None:
        return False
    names = {str(k).lower() for k in headers}
    return not any(h in names for h in FORWARDING_HEADERS)
