"""A small reverse proxy on loopback for the tests: relays HTTP and WebSocket traffic to a server
on this machine, adding headers (``X-Forwarded-For: 203.0.113.9`` by default) to every request.

It stands in for nginx or a load balancer in front of the app, so a test can check what the app
does when a browser reaches it through a proxy, whatever headers the browser itself sends.
Standard library only (asyncio), run in a background thread with its own event loop::

    with reverse_proxy(upstream_port) as port:          # adds X-Forwarded-For: 203.0.113.9
        ...  # browse http://127.0.0.1:{port}/
    with reverse_proxy(upstream_port, add_headers=()) as port:   # relays, adds nothing
        ...

How it relays, per client connection:

- it reads one request head (up to the blank line) and appends the added headers to the
  request's own;
- a WebSocket upgrade (``Upgrade: websocket``) is forwarded as is (plus the headers), then bytes
  are piped both ways until either side closes;
- any other request gets ``Connection: close`` towards the server (so every request travels on a
  fresh server connection, and gets the headers), its body is forwarded by ``Content-Length``
  (a chunked request body is refused with 501), the response is piped back until the server
  closes, and the client connection is closed too. The response head is given
  ``Connection: close`` on its way back, so the browser opens a new connection for its next
  request instead of reusing this one;
- a server that cannot be reached gets the client a 502.

Every relayed request is recorded in :attr:`ReverseProxy.requests` (method, target, whether it
was a WebSocket upgrade, the response's status line, the headers added), so a test can check the
browser really went through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DOCUMENTATION_ADDRESS = "203.0.113.9"  # TEST-NET-3 (RFC 5737): never a real client
DEFAULT_HEADERS: tuple[tuple[str, str], ...] = (("X-Forwarded-For", DOCUMENTATION_ADDRESS),)

_CHUNK = 64 * 1024
# Hop-by-hop headers replaced by ``Connection: close`` on an ordinary request.
_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection"}


@dataclass(frozen=True)
class Relayed:
    """One request the proxy relayed."""

    method: str
    target: str
    websocket: bool
    status: str  # the server's status line, e.g. "HTTP/1.1 101 Switching Protocols"; "" if none
    added: tuple[tuple[str, str], ...]


def _split_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The first line and the header lines (name, value) of a request or response head."""
    lines = head.decode("latin-1").split("\r\n")
    request_line, headers = lines[0], []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete line folding: continue the last header
            name, value = headers[-1]
            headers[-1] = (name, value + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"malformed header line: {line!r}")
        headers.append((name.strip(), value.strip()))
    return request_line, headers


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [v for k, v in headers if k.lower() == name]
    return ", ".join(values) if values else None


def _is_websocket_upgrade(headers: list[tuple[str, str]]) -> bool:
    upgrade = (_header(headers, "upgrade") or "").lower()
    return "websocket" in [t.strip() for t in upgrade.split(",")]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes from ``reader`` to ``writer`` until end of stream."""
    while True:
        data = await reader.read(_CHUNK)
        if not data:
            return
        writer.write(data)
        await writer.drain()


async def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is None:
        return
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), 2)
    except asyncio.CancelledError:
        writer.transport.abort()
        raise
    except Exception:  # the peer went away, or does not read what is left to send: drop it
        writer.transport.abort()


class ReverseProxy:
    """An HTTP/WebSocket relay on ``host`` (loopback), a free port, towards
    ``upstream_host:upstream_port``, adding ``add_headers`` to every request it forwards."""

    def __init__(
        self,
        upstream_port: int,
        *,
        upstream_host: str = "127.0.0.1",
        add_headers: Iterable[tuple[str, str]] = DEFAULT_HEADERS,
        host: str = "127.0.0.1",
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.add_headers = tuple((str(k), str(v)) for k, v in add_headers)
        self.host = host
        self.port: int | None = None
        self.requests: list[Relayed] = []
        self._tasks: set[asyncio.Task] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- the thread ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> int:
        """Start listening; return the port."""
        if self._thread is not None:
            raise RuntimeError("this proxy was already started")
        self._thread = threading.Thread(target=self._run, name="test-reverse-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the reverse proxy did not start")
        if self._error is not None:
            raise RuntimeError("the reverse proxy failed to start") from self._error
        assert self.port is not None
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, drop every relayed connection, end the thread."""
        if self._thread is None:
            return
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                loop.call_soon_threadsafe(stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the reverse proxy did not stop")

    @property
    def running(self) -> bool:
        """True from :meth:`start` until :meth:`stop` has ended the thread."""
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> ReverseProxy:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start() if it happens before listening
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            # End every connection before closing the listening socket: cancel the running
            # handlers (each closes its two sides); a connection accepted a moment ago may still
            # be on its way to a handler, which then sees ``_stopping`` and closes at once. Only
            # when no task of this loop is left, close the server, in the same step as that
            # check (Python 3.11's asyncio leaks a connection accepted after close()).
            current, cancelled = asyncio.current_task(), set()
            for _ in range(100):
                for task in self._tasks - cancelled:
                    task.cancel()
                    cancelled.add(task)
                pending = asyncio.all_tasks() - {current}
                if not pending:
                    break
                await asyncio.wait(pending, timeout=0.1)
            server.close()
            await server.wait_closed()

    # -- one client connection ----------------------------------------------------------------

    @staticmethod
    async def _refuse(client_w: asyncio.StreamWriter, status: str) -> None:
        client_w.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode("latin-1")
        )
        await client_w.drain()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        upstream_w: asyncio.StreamWriter | None = None
        try:
            if self._stopping is None or self._stopping.is_set():
                return
            try:
                head = await client_r.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return  # the client closed (or sent no request): nothing to relay
            request_line, headers = _split_head(head[:-4])
            method, _, rest = request_line.partition(" ")
            target = rest.rpartition(" ")[0] or rest
            websocket = _is_websocket_upgrade(headers)

            if not websocket and _header(headers, "transfer-encoding") is not None:
                # Read the chunked body to its end first: answering while the client is still
                # sending makes its next write fail (a broken pipe) instead of reading the 501.
                try:
                    await asyncio.wait_for(client_r.readuntil(b"0\r\n\r\n"), timeout=5)
                except (
                    TimeoutError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    ConnectionError,
                ):
                    pass
                await self._refuse(client_w, "501 Not Implemented")
                self.requests.append(Relayed(method, target, False, "", ()))
                return

            out = (
                headers
                if websocket
                else [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
            )
            out = out + list(self.add_headers)
            if not websocket:
                out.append(("Connection", "close"))
            new_head = "\r\n".join([request_line] + [f"{k}: {v}" for k, v in out]) + "\r\n\r\n"

            try:
                upstream_r, upstream_w = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                await self._refuse(client_w, "502 Bad Gateway")
                self.requests.append(Relayed(method, target, websocket, "", ()))
                return
            upstream_w.write(new_head.encode("latin-1"))
            if not websocket:
                length = int(_header(headers, "content-length") or 0)
                if length:
                    upstream_w.write(await client_r.readexactly(length))
            await upstream_w.drain()

            try:
                response_head = await upstream_r.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:  # the server closed early: pass it on
                response_head = exc.partial
            status = response_head.split(b"\r\n", 1)[0].decode("latin-1").strip()
            self.requests.append(Relayed(method, target, websocket, status, self.add_headers))
            if not websocket and response_head.endswith(b"\r\n\r\n"):
                # Tell the browser this connection ends with the response (it does).
                status_line, response_headers = _split_head(response_head[:-4])
                kept = [(k, v) for k, v in response_headers if k.lower() not in _HOP_BY_HOP]
                response_head = (
                    "\r\n".join(
                        [status_line] + [f"{k}: {v}" for k, v in kept] + ["Connection: close"]
                    )
                    + "\r\n\r\n"
                ).encode("latin-1")
            client_w.write(response_head)
            await client_w.drain()

            if websocket:
                both = [
                    asyncio.ensure_future(_pipe(client_r, upstream_w)),
                    asyncio.ensure_future(_pipe(upstream_r, client_w)),
                ]
                try:
                    await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for t in both:
                        t.cancel()
                    await asyncio.gather(*both, return_exceptions=True)
            else:
                await _pipe(upstream_r, client_w)
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
        ):
            pass  # a side went away mid-request, or a malformed message: drop the connection
        except asyncio.CancelledError:
            pass  # stop(): close both sides below
        finally:
            await _close(upstream_w)
            await _close(client_w)
            self._tasks.discard(task)


@contextlib.contextmanager
def reverse_proxy(
    upstream_port: int,
    *,
    upstream_host: str = "127.0.0.1",
    add_headers: Iterable[tuple[str, str]] = DEFAULT_HEADERS,
) -> Iterator[int]:
    """A running :class:`ReverseProxy` on 127.0.0.1; yields its port, stops it on exit."""
    with ReverseProxy(upstream_port, upstream_host=upstream_host, add_headers=add_headers) as proxy:
        yield proxy.port  # type: ignore[misc]
