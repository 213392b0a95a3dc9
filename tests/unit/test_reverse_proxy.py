"""The test reverse proxy (tests/reverse_proxy.py): it relays HTTP requests and WebSocket
upgrades to a server on loopback and adds its headers to each; it adds nothing when told to; it
stops cleanly, open connections included. Everything here runs on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import socket
import threading

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from tests.reverse_proxy import DOCUMENTATION_ADDRESS, ReverseProxy, reverse_proxy


class _EchoHeaders(http.server.BaseHTTPRequestHandler):
    """Answers with a JSON object: the request's headers, method, path and body."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        data = json.dumps(
            {
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "method": self.command,
                "path": self.path,
                "body": body,
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def http_upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHeaders)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture()
def ws_upstream():
    """A WebSocket server that first sends the upgrade request's headers, then echoes."""

    def handler(ws):
        ws.send(json.dumps({k.lower(): v for k, v in ws.request.headers.raw_items()}))
        for message in ws:
            ws.send(message)

    with serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield server.socket.getsockname()[1]
        server.shutdown()
        thread.join(5)


def _get(port: int, path: str, conn: http.client.HTTPConnection | None = None, **kw) -> dict:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(kw.pop("method", "GET"), path, **kw)
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Connection") == "close"
    return json.loads(resp.read())


def test_an_http_request_arrives_with_the_header(http_upstream):
    with ReverseProxy(http_upstream) as proxy:
        got = _get(proxy.port, "/a?b=1")
    assert got["path"] == "/a?b=1"
    assert got["headers"]["x-forwarded-for"] == DOCUMENTATION_ADDRESS
    assert got["headers"]["connection"] == "close"
    assert [(r.method, r.target, r.websocket) for r in proxy.requests] == [("GET", "/a?b=1", False)]
    assert proxy.requests[0].status.startswith("HTTP/1.1 200")


def test_a_request_body_is_relayed(http_upstream):
    with reverse_proxy(http_upstream) as port:
        got = _get(
            port,
            "/upload",
            method="POST",
            body=b"x" * 100_000,
            headers={"Content-Type": "text/plain"},
        )
    assert got["method"] == "POST"
    assert got["body"] == "x" * 100_000
    assert got["headers"]["x-forwarded-for"] == DOCUMENTATION_ADDRESS


def test_each_request_of_a_keep_alive_client_gets_the_header(http_upstream):
    with reverse_proxy(http_upstream) as port:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        first = _get(port, "/one", conn, headers={"Connection": "keep-alive"})
        second = _get(port, "/two", conn, headers={"Connection": "keep-alive"})  # reconnects
        conn.close()
    for got in (first, second):
        assert got["headers"]["x-forwarded-for"] == DOCUMENTATION_ADDRESS
        assert got["headers"]["connection"] == "close"  # the client's keep-alive is replaced


def test_without_added_headers_the_request_is_relayed_unchanged(http_upstream):
    with reverse_proxy(http_upstream, add_headers=()) as port:
        got = _get(port, "/")
    assert "x-forwarded-for" not in got["headers"]
    assert got["headers"]["host"] == f"127.0.0.1:{port}"


def test_other_headers_can_be_added(http_upstream):
    with reverse_proxy(http_upstream, add_headers=[("Forwarded", "for=203.0.113.9")]) as port:
        got = _get(port, "/")
    assert got["headers"]["forwarded"] == "for=203.0.113.9"
    assert "x-forwarded-for" not in got["headers"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_server_that_cannot_be_reached_is_a_502():
    with reverse_proxy(_free_port()) as port:  # nothing listens there
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        assert conn.getresponse().status == 502
        conn.close()


def test_a_chunked_request_body_is_refused(http_upstream):
    with ReverseProxy(http_upstream) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("POST", "/", body=iter([b"abc"]), encode_chunked=True)
        assert conn.getresponse().status == 501
        conn.close()
    assert [r.status for r in proxy.requests] == [""]  # never reached the server


def test_a_websocket_upgrade_arrives_with_the_header_and_pipes_both_ways(ws_upstream):
    with ReverseProxy(ws_upstream) as proxy:
        with connect(f"ws://127.0.0.1:{proxy.port}/_stcore/stream", open_timeout=10) as ws:
            headers = json.loads(ws.recv(timeout=10))
            for message in ["hello", "x" * 200_000, b"\x00\x01binary"]:
                ws.send(message)
                assert ws.recv(timeout=10) == message
    assert headers["x-forwarded-for"] == DOCUMENTATION_ADDRESS
    assert headers["upgrade"].lower() == "websocket"
    assert [(r.target, r.websocket) for r in proxy.requests] == [("/_stcore/stream", True)]
    assert proxy.requests[0].status.startswith("HTTP/1.1 101")


def test_a_websocket_upgrade_without_added_headers(ws_upstream):
    with reverse_proxy(ws_upstream, add_headers=()) as port:
        with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
            headers = json.loads(ws.recv(timeout=10))
    assert "x-forwarded-for" not in headers


def test_stopping_closes_open_connections_and_the_port(ws_upstream):
    proxy = ReverseProxy(ws_upstream)
    port = proxy.start()
    assert proxy.running
    with connect(f"ws://127.0.0.1:{port}/", open_timeout=10) as ws:
        ws.recv(timeout=10)
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)  # sends nothing
        proxy.stop(timeout=10)
        assert not proxy.running
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
        assert idle.recv(1) == b""  # closed by the proxy
        idle.close()
    with pytest.raises(OSError), contextlib.closing(socket.socket()) as s:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
