"""An HTTP client for python-telegram-bot (`telegram.request.BaseRequest`): JSON POSTs on
keep-alive HTTP/1.1 (bot/http1.py, about half aiohttp's CPU per call), uploads and downloads
through aiohttp.

PTB's default `HTTPXRequest` is slow under load: httpcore scans its whole connection pool for
every queued request and retries a failing `import sniffio` on every lock, so concurrent
handling is *slower* than sequential (≈210 vs ≈780 updates/s). aiohttp's connector
hands out keep-alive connections in O(1); measured here, PTB on this class handles about twice
as many updates per second as on httpx, concurrently or not.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.http1 import AnswerTimeout, ConnectTimeout, HTTP1Pool, Lost, NotSent
from bot.incoming import lean

_JSON = {"Content-Type": "application/json"}


class AiohttpRequest(BaseRequest):
    """One `aiohttp.ClientSession` with a pool of keep-alive connections to the Bot API.

    Timeouts mean what they mean for `HTTPXRequest`: `pool_timeout` waits for a free
    connection, `connect_timeout` for the TCP/TLS handshake, `read_timeout` for the answer.
    aiohttp has no separate write timeout, so `write_timeout` bounds the whole request
    together with the read timeout.
    """

    __slots__ = (
        "_connection_pool_size",
        "_connect",
        "_json_pools",
        "_media_write",
        "_pool",
        "_read",
        "_session",
        "_write",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._connection_pool_size = connection_pool_size
        self._read, self._write, self._connect = read_timeout, write_timeout, connect_timeout
        self._pool, self._media_write = pool_timeout, media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._json_pools: dict[str, HTTP1Pool] = {}  # per scheme://host:port, for plain JSON POSTs

    @property
    def read_timeout(self) -> float | None:
        return self._read

    async def initialize(self) -> None:
        """Open the session (it must be created inside the running event loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connection_pool_size, ttl_dns_cache=300, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": self.USER_AGENT}, skip_auto_headers=("Accept-Encoding",)
            )

    async def shutdown(self) -> None:
        pools, self._json_pools = self._json_pools, {}
        for pool in pools.values():
            await pool.close()
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def _timeout(
        self,
        read: ODVInput[float],
        write: ODVInput[float],
        connect: ODVInput[float],
        pool: ODVInput[float],
        files: bool,
    ) -> aiohttp.ClientTimeout:
        read_s = self._read if isinstance(read, DefaultValue) else read
        write_s = (self._media_write if files else self._write) if isinstance(write, DefaultValue) else write
        connect_s = self._connect if isinstance(connect, DefaultValue) else connect
        pool_s = self._pool if isinstance(pool, DefaultValue) else pool
        total = None if None in (read_s, write_s, connect_s, pool_s) else read_s + write_s + connect_s + pool_s  # type: ignore[operator]
        waiting = None if pool_s is None or connect_s is None else pool_s + connect_s
        return aiohttp.ClientTimeout(total=total, connect=waiting, sock_connect=connect_s, sock_read=read_s)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        files = bool(request_data and request_data.contains_files)
        timeout = self._timeout(read_timeout, write_timeout, connect_timeout, pool_timeout, files)
        if method == "POST" and not files:  # nearly every call: a small JSON POST, on keep-alive HTTP/1.1
            params = request_data.parameters if request_data is not None else None
            body = json.dumps(params, ensure_ascii=False).encode() if params else b""
            return await self._post_json(url, body, timeout.total)
        kwargs: dict[str, Any] = {"timeout": timeout}
        if request_data is not None:
            if files:
                kwargs["data"] = _multipart(request_data)
            else:
                params = request_data.parameters
                if params:  # a JSON body: one C-speed dumps instead of urlencoding every field
                    kwargs["data"] = json.dumps(params, ensure_ascii=False).encode()
                    kwargs["headers"] = _JSON
        try:
            async with self._session.request(method, url, **kwargs) as response:
                return response.status, await response.read()
        except TimeoutError as exc:  # includes aiohttp's ServerTimeoutError
            raise TimedOut(f"aiohttp: {type(exc).__name__}: {exc}") from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc

    async def _post_json(self, url: str, body: bytes, timeout: float | None) -> tuple[int, bytes]:
        scheme, _, rest = url.partition("://")
        netloc, _, path = rest.partition("/")
        origin = f"{scheme}://{netloc}"
        pool = self._json_pools.get(origin)
        if pool is None:
            pool = self._json_pools[origin] = HTTP1Pool(
                origin,
                size=self._connection_pool_size,
                connect_timeout=self._connect or 5.0,
                user_agent=self.USER_AGENT,
            )
        try:
            return await pool.post(path, body, timeout=timeout)
        except (ConnectTimeout, AnswerTimeout) as exc:
            raise TimedOut(f"http1: {type(exc).__name__}: {exc}") from exc
        except (NotSent, Lost) as exc:
            raise NetworkError(f"http1: {type(exc).__name__}: {exc}") from exc


class UpdatesRequest(AiohttpRequest):
    """The client PTB polls `getUpdates` with: updates come out lean (see `bot.incoming`)."""

    __slots__ = ()

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        answer = BaseRequest.parse_json_payload(payload)
        result = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(result, list):
            for update in result:
                if isinstance(update, dict):
                    lean(update)
        return answer


def _multipart(request_data: RequestData) -> aiohttp.FormData:
    """Parameters and files as multipart/form-data, the way Telegram expects uploads."""
    form = aiohttp.FormData(quote_fields=False)
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, part in request_data.multipart_data.items():
        filename, content, mime_type = part[0], part[1], part[2] if len(part) > 2 else None
        form.add_field(name, content, filename=filename, content_type=mime_type or "application/octet-stream")
    return form
