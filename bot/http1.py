"""A small keep-alive HTTP/1.1 client for the Bot API's JSON POSTs.

Every update costs a few Bot API calls (getUpdates share, sendMessage or editMessageText,
answerCallbackQuery), all of them a small JSON POST to one host. aiohttp's client spends
about 200 µs of CPU on each (request and response objects, header multidicts, timers,
tracing hooks); this one writes the request in one `write` and parses the answer with a few
`bytes` operations on an `asyncio.Protocol`, about half of that. Uploads, downloads and
anything unusual stay with aiohttp (bot/transport.py, bot/request.py).

Errors keep apart what the caller must tell apart: `NotSent` (no connection could be made,
nothing left) and `Lost` (the request may have reached Telegram, no complete answer came
back: reset, timeout, malformed reply). A POST is never retried here, as Telegram may have
acted on it.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024  # response headers larger than this are not Telegram's


class NotSent(Exception):
    """The request never left: no connection (refused, unreachable, connect timeout)."""


class Lost(Exception):
    """The request left (or may have), but no complete answer came back."""


class ConnectTimeout(NotSent):
    """No connection (or no free slot in the pool) before the timeout."""


class AnswerTimeout(Lost):
    """The request left; its answer did not come before the timeout."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one request at a time, the answer parsed as it arrives."""

    __slots__ = (
        "_body_left",
        "_buffer",
        "_chunked",
        "_head",
        "_keep",
        "_status",
        "_until_eof",
        "closed",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self._buffer = bytearray()
        self._reset()

    def _reset(self) -> None:
        self._head = False
        self._status = 0
        self._body_left = -1
        self._chunked = False
        self._until_eof = False
        self._keep = True

    # -- asyncio.Protocol ---------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None or self.waiter.done():  # nothing asked: the server is confused
            self.abort()
            return
        self._buffer += data
        try:
            self._parse()
        except (ValueError, IndexError) as exc:
            self._fail(Lost(f"malformed HTTP answer: {exc}"))

    def eof_received(self) -> bool:
        if self._until_eof and self._head and self.waiter is not None and not self.waiter.done():
            self._finish(bytes(self._buffer))
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            if self._until_eof and self._head:
                self.waiter.set_result((self._status, bytes(self._buffer)))
            else:
                reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
                self.waiter.set_exception(Lost(f"connection lost before the answer ({reason})"))

    # -- requests ------------------------------------------------------------------------------
    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Write one request and wait for its whole answer."""
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self._buffer.clear()
        self._reset()
        self.transport.write(request)
        return await self.waiter

    @property
    def reusable(self) -> bool:
        return not self.closed and self._keep and self.transport is not None and not self.transport.is_closing()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # -- parsing -------------------------------------------------------------------------------
    def _parse(self) -> None:
        buffer = self._buffer
        while not self._head:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > MAX_HEAD:
                    raise ValueError("headers too large")
                return
            head = bytes(buffer[:end]).decode("latin-1")
            del buffer[: end + 4]
            lines = head.split("\r\n")
            version, status = lines[0].split(" ", 2)[:2]
            code = int(status)
            if 100 <= code < 200:  # "100 Continue" and friends: the real answer follows
                continue
            self._status = code
            self._keep = version == "HTTP/1.1"
            length = -1
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "transfer-encoding":
                    self._chunked = "chunked" in value.lower()
                elif name == "connection":
                    token = value.strip().lower()
                    if token == "close":
                        self._keep = False
                    elif token == "keep-alive":
                        self._keep = True
            self._head = True
            if code in (204, 304):  # never a body, whatever the headers say
                self._chunked, self._body_left = False, 0
            elif self._chunked:
                self._body_left = -1
            elif length >= 0:
                self._body_left = length
            else:
                self._until_eof, self._keep = True, False
        if self._chunked:
            self._parse_chunks()
        elif self._body_left >= 0 and len(buffer) >= self._body_left:
            if len(buffer) > self._body_left:  # bytes after the answer: do not trust this connection again
                self._keep = False
            self._finish(bytes(buffer[: self._body_left]))

    def _parse_chunks(self) -> None:
        """Decode `Transfer-Encoding: chunked` once the whole body is in the buffer."""
        buffer, body, position = self._buffer, bytearray(), 0
        while True:
            end = buffer.find(b"\r\n", position)
            if end < 0:
                return
            size = int(bytes(buffer[position:end]).split(b";", 1)[0].strip(), 16)
            if size == 0:
                if buffer.find(b"\r\n\r\n", end) < 0:  # the blank line after the (optional) trailers
                    return
                self._finish(bytes(body))
                return
            start, stop = end + 2, end + 2 + size
            if len(buffer) < stop + 2:
                return
            body += buffer[start:stop]
            position = stop + 2

    def _finish(self, body: bytes) -> None:
        self._buffer.clear()
        waiter, self.waiter = self.waiter, None
        if not self._keep and self.transport is not None:
            self.transport.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, body))

    def _fail(self, exc: Exception) -> None:
        waiter = self.waiter
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)


class HTTP1Pool:
    """Up to `size` keep-alive connections to the host of `base_url`; most recently used first."""

    def __init__(
        self, base_url: str, *, size: int = 100, connect_timeout: float = 5.0, user_agent: str = "relais-sante"
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must be an http(s) URL")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = parts.scheme == "https"
        self.prefix = parts.path.rstrip("/")
        self.size = size
        self.connect_timeout = connect_timeout
        default_port = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        host_header = self.host if default_port else f"{self.host}:{self.port}"
        self._headers = f"Host: {host_header}\r\nUser-Agent: {user_agent}\r\nAccept: application/json\r\n".encode(
            "latin-1"
        )
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._ssl: ssl.SSLContext | None = None
        self.opened = 0  # connections made so far (tests: keep-alive really keeps them)

    def request_bytes(self, path: str, body: bytes, content_type: str = "application/json") -> bytes:
        """The whole request: the same bytes a browser would send, minus what Telegram ignores."""
        head = f"POST {self.prefix}/{path} HTTP/1.1\r\n".encode("latin-1") + self._headers
        if body:
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n".encode("latin-1")
        else:
            head += b"Content-Length: 0\r\n\r\n"
        return head + body

    async def post(
        self, path: str, body: bytes, *, timeout: float | None, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        """POST `body` to `<base_url>/<path>`: (status, body). `timeout` bounds the whole call."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        request = self.request_bytes(path, body, content_type)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError as exc:
            raise ConnectTimeout("no free connection before the timeout") from exc
        try:
            connection = await self._connection(deadline)
            try:
                async with asyncio.timeout_at(deadline):
                    status, answer = await connection.exchange(request)
            except TimeoutError as exc:
                connection.abort()
                raise AnswerTimeout("no answer before the timeout") from exc
            except BaseException:  # Lost, or cancelled: this connection's next bytes belong to nobody
                connection.abort()
                raise
            if connection.reusable:
                self._idle.append(connection)
            return status, answer
        finally:
            self._slots.release()

    async def _connection(self, deadline: float | None) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable:
                return connection
        loop = asyncio.get_running_loop()
        if deadline is not None:
            deadline = min(deadline, loop.time() + self.connect_timeout)
        else:
            deadline = loop.time() + self.connect_timeout
        if self.tls and self._ssl is None:
            self._ssl = ssl.create_default_context()
        try:
            async with asyncio.timeout_at(deadline):
                _, protocol = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl if self.tls else None,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError as exc:
            raise ConnectTimeout("connect timed out") from exc
        except OSError as exc:
            raise NotSent(f"{type(exc).__name__}: {exc}") from exc
        self.opened += 1
        return protocol

    async def close(self) -> None:
        """Close the idle connections (those in use close when their call ends)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            if connection.transport is not None:
                connection.transport.close()
        await asyncio.sleep(0)  # let the transports finish closing inside this loop
