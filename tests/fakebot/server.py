"""FakeBotAPI: a Telegram Bot API server on 127.0.0.1 for end-to-end tests of the real bot.

The bot under test talks real HTTP to it (python-telegram-bot with `base_url`), so what is
tested is the bot's actual requests and its handling of Telegram's actual answers (errors
included). Tests drive users (`send_text`, `press`, ...) and read what the bot did
(`sent()`, `messages()`, `files()`, `wait_for()`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from aiohttp import web

from . import methods as _methods  # noqa: F401  (registers handlers)
from . import sending as _sending  # noqa: F401  (registers handlers)
from .events import EventLog
from .limits import RateLimiter, RateLimits
from .objects import Upload, user as make_user_dict
from .registry import HANDLERS
from .spec import METHODS, ApiError, Kind, MethodSpec, check_result, coerce, missing_param_error
from .store import ChatState, Store
from .updates import UpdateHub
from .users import UserSide

JSON = dict[str, Any]
Call = tuple[str, dict[str, Any]]

MAX_BODY = 60 * 1024 * 1024
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Failure:
    status: int  # 0: drop the connection without answering
    description: str
    retry_after: int | None


def _describe_message(m: JSON) -> str:
    what = (
        m.get("text")
        or m.get("caption")
        or (m.get("document") or {}).get("file_name")
        or (m.get("poll") or {}).get("question")
        or ", ".join(k for k in m if k not in ("message_id", "from", "chat", "date", "sender_chat"))
    )
    return f"chat {m['chat']['id']} #{m['message_id']}: {str(what)[:100]!r}"


def _describe_call(c: tuple[int, str, dict[str, Any]]) -> str:
    return f"#{c[0]} {c[1]} {str(c[2])[:120]}"


def _json_response(body: JSON, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        status=status,
        content_type="application/json",
    )


def _resolve_attach(value: Any, uploads: dict[str, Upload]) -> Any:
    """Replace "attach://name" strings (InputMedia...) by the uploaded file part."""
    if isinstance(value, str) and value.startswith("attach://"):
        return uploads.get(value[len("attach://"):], value)
    if isinstance(value, list):
        return [_resolve_attach(v, uploads) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_attach(v, uploads) for k, v in value.items()}
    return value


class FakeBotAPI(UserSide):
    """A fake Telegram Bot API: HTTP server + simulated users, chats and limits."""

    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",
        latency: float = 0.0,
        enforce_limits: bool = False,
        *,
        limits: RateLimits | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        bot_first_name: str = "Relais Santé",
        bot_username: str = "relais_sante_test_bot",
        webhook_retries: int = 2,
        validate_results: bool = False,
    ) -> None:
        self.token = token
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.limits = limits or RateLimits()
        self.host = host
        self.port = port
        self.clock = clock
        self.bot_user: JSON = make_user_dict(int(token.split(":", 1)[0]), bot_first_name,
                                             username=bot_username, is_bot=True)
        #: Check every result against api.json before answering; a violation answers 500 and
        #: is kept in `result_problems` (on in the fake's own tests; costs time in benchmarks).
        self.validate_results = validate_results
        self.result_problems: list[str] = []
        self.internal_errors: list[str] = []  # tracebacks of crashes inside the fake (500 answers)
        #: Telegram's group privacy mode: when True, group messages reach the bot only if they
        #: are commands or mention it (getMe reports can_read_all_group_messages accordingly).
        self.privacy_mode = False
        self.store = Store()
        self.hub = UpdateHub(webhook_retries=webhook_retries)
        self._limiter = RateLimiter(self.limits, clock)
        self._sent_log: EventLog[JSON] = EventLog(_describe_message, "send")
        self._sent_log.items = self.store.sent
        self.calls: list[Call] = []  # recorded on arrival, in order
        self._answered: EventLog[tuple[int, str, dict[str, Any]]] = EventLog(_describe_call, "answered call")
        self.count_429 = 0
        self.send_times: list[float] = []
        self.callback_answers: dict[str, JSON] = {}  # callback_query_id -> answerCallbackQuery params
        self._open_callbacks: set[str] = set()
        self._callback_ids = itertools.count(4_382_000_000_000_000_001)
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._failures: dict[str, deque[_Failure]] = {}
        self._runner: web.AppRunner | None = None
        self.webhook_reply_calls: list[int] = []  # indexes in `calls` of methods run from a webhook's answer
        self.webhook_reply_errors: list[tuple[str, int, str]] = []

    # ================================================================== lifecycle
    async def start(self) -> FakeBotAPI:
        self.hub.on_webhook_reply = self._webhook_reply  # the hub may have been replaced since __init__
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        await self.hub.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotAPI:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://{self.host}:{self.port}/file/bot"

    # ================================================================== HTTP
    async def _not_found(self, request: web.Request) -> web.Response:
        return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        if request.match_info["token"] != self.token:
            return _json_response(ApiError(401, "Unauthorized").body(), 401)
        spec = METHODS.get(request.match_info["method"].lower())
        if spec is None:
            self.calls.append((request.match_info["method"], {}))
            return _json_response(ApiError(404, "Not Found").body(), 404)
        try:
            params = await self._read_params(request, spec)
        except ApiError as exc:
            self.calls.append((spec.name, {}))
            return _json_response(exc.body(), exc.code)
        index = len(self.calls)
        self.calls.append((spec.name, params))
        failure = self._take_failure(spec.name)
        if failure is not None and failure.status == 0:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        body, status = await self._run(index, spec, params, failure)
        if self.latency:
            await asyncio.sleep(self.latency / 2)
        return _json_response(body, status)

    async def _run(self, index: int, spec: MethodSpec, params: dict[str, Any], failure: _Failure | None) -> tuple[JSON, int]:
        """Execute one recorded call: Telegram's answer body and HTTP status."""
        try:
            if failure is not None:
                extra = {"retry_after": failure.retry_after} if failure.retry_after is not None else None
                raise ApiError(failure.status, failure.description, extra)
            result = await self._dispatch(spec, params)
            if self.validate_results:
                problems = check_result(spec.name, result)
                if problems:
                    self.result_problems.extend(problems)
                    raise ApiError(500, "Internal Server Error: fake returned " + "; ".join(problems[:5]))
            body: JSON = {"ok": True, "result": result}
            status = 200
        except ApiError as exc:
            body, status = exc.body(), exc.code
        except Exception as exc:  # a bug in the fake: answer like a broken server, keep the trace
            _log.exception("fake Bot API crashed on %s", spec.name)
            self.internal_errors.append(f"{spec.name}: {traceback.format_exc()}")
            body, status = ApiError(500, f"Internal Server Error: {type(exc).__name__}: {exc}").body(), 500
        if status == 429:
            self.count_429 += 1
        self._answered.append((index, spec.name, params))
        return body, status

    async def _webhook_reply(self, body: JSON) -> None:
        """A method in the webhook's answer body, executed as Telegram does: like a JSON call
        of that method (recorded in `calls`, failures and limits included), its outcome
        unseen by the bot (kept in `webhook_reply_errors` for tests)."""
        spec = METHODS.get(str(body.get("method", "")).lower())
        if spec is None:
            self.webhook_reply_errors.append((str(body.get("method")), 404, "Not Found"))
            return
        try:
            params = self._coerce(spec, {k: v for k, v in body.items() if k != "method"}, {})
        except ApiError as exc:
            self.webhook_reply_errors.append((spec.name, exc.code, exc.description))
            return
        index = len(self.calls)
        self.calls.append((spec.name, params))
        self.webhook_reply_calls.append(index)
        failure = self._take_failure(spec.name)
        if failure is not None and failure.status == 0:
            return
        answer, status = await self._run(index, spec, params, failure)
        if status != 200:
            self.webhook_reply_errors.append((spec.name, status, str(answer.get("description", ""))))

    async def _dispatch(self, spec: MethodSpec, params: dict[str, Any]) -> Any:
        for name in spec.required:
            if params.get(name) in (None, ""):
                raise missing_param_error(name)
        reg = HANDLERS.get(spec.name.lower())
        if reg is None:
            return _methods.generic(self, spec, params)
        if reg.is_async:
            return await reg.fn(self, spec, params)
        return reg.fn(self, spec, params)

    async def _read_params(self, request: web.Request, spec: MethodSpec) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        uploads: dict[str, Upload] = {}
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise ApiError(400, "Bad Request: can't parse JSON request body") from None
                if not isinstance(body, dict):
                    raise ApiError(400, "Bad Request: the request body must be a JSON object")
                raw.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        uploads[key] = Upload(value.filename, value.file.read(), value.content_type)
                    else:
                        raw[key] = value
        return self._coerce(spec, raw, uploads)

    @staticmethod
    def _coerce(spec: MethodSpec, raw: dict[str, Any], uploads: dict[str, Upload]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in raw.items():
            param = spec.params.get(key)
            if param is not None:
                params[key] = coerce(param, value)
            elif not key.startswith("_"):
                params[key] = value  # Telegram ignores unknown parameters; keep them for tests
        for key, up in uploads.items():
            param = spec.params.get(key)
            if param is not None and param.kind is Kind.FILE:
                params[key] = up
        if uploads:
            params = {k: _resolve_attach(v, uploads) for k, v in params.items()}
        return params

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        if request.match_info["token"] != self.token:
            return _json_response(ApiError(401, "Unauthorized").body(), 401)
        sf = self.store.files_by_path.get(request.match_info["path"])
        if sf is None:
            return _json_response(ApiError(404, "Not Found").body(), 404)
        return web.Response(body=sf.content, headers={"Content-Type": sf.mime_type or "application/octet-stream"})

    # ================================================================== send policy (used by handlers)
    def _check_not_blocked(self, chat: ChatState) -> None:
        if chat.private and chat.id in self.store.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        self._check_bot_in_chat(chat)

    def _check_bot_in_chat(self, chat: ChatState) -> None:
        """A group or channel the bot left or was removed from refuses it, in Telegram's words."""
        if chat.private:
            return
        status = chat.members.get(self.bot_user["id"])
        kind = chat.chat["type"]
        if status == "kicked":
            raise ApiError(403, f"Forbidden: bot was kicked from the {kind} chat")
        if status == "left":
            if kind == "group":  # a basic group the bot is not in does not exist for it
                raise ApiError(400, "Bad Request: chat not found")
            raise ApiError(403, f"Forbidden: bot is not a member of the {kind} chat")

    def _admit_send(self, chat: ChatState, paid: bool) -> None:
        self._check_not_blocked(chat)
        if self.enforce_limits:
            wait = self._limiter.acquire(chat.id, chat.private, paid)
            if wait is not None:
                raise ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})

    def _record_send(self, chat: ChatState, msg: JSON) -> None:
        self.store.add_bot_message(chat, msg)
        self.send_times.append(self.clock())
        self._sent_log.notify(msg)

    # ================================================================== knobs
    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        count: int = 1,
        *,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `count` calls of `method` ("*" = any) with an error.

        status 0 drops the connection without an answer (PTB raises NetworkError).
        """
        if description is None:
            try:
                description = HTTPStatus(status).phrase
            except ValueError:
                description = "Error"
        queue = self._failures.setdefault(method.lower(), deque())
        queue.extend(_Failure(status, description, retry_after) for _ in range(count))

    def _take_failure(self, method: str) -> _Failure | None:
        if not self._failures:
            return None
        for key in (method.lower(), "*"):
            queue = self._failures.get(key)
            if queue:
                failure = queue.popleft()
                if not queue:
                    del self._failures[key]
                return failure
        return None

    # ================================================================== what the bot did
    def messages(self, chat_id: int | None = None) -> list[JSON]:
        """The bot's messages as chats show them now (edits applied, deletions removed)."""
        if chat_id is None:
            return list(self.store.live.values())
        state = self.store.chats.get(chat_id)
        return list(state.live.values()) if state else []

    def sent(self, chat_id: int | None = None) -> list[JSON]:
        """Every accepted send, as returned to the bot at the time, in order."""
        if chat_id is None:
            return list(self.store.sent)
        state = self.store.chats.get(chat_id)
        return list(state.sent) if state else []

    def files(self, chat_id: int | None = None) -> list[tuple[str, bytes, str | None]]:
        """(filename, bytes, caption) of every file the bot uploaded."""
        return [(n, b, c) for cid, n, b, c in self.store.uploads if chat_id is None or cid == chat_id]

    def commands(self, scope: str | JSON = "default", language_code: str = "") -> list[JSON]:
        """What setMyCommands stored for a scope ("default", {"type": "chat", "chat_id": 1}...)."""
        return list(self._commands.get((_methods.scope_key(None, scope), language_code), []))

    @property
    def updates(self) -> list[JSON]:
        """Every update pushed, including those dropped by allowed_updates."""
        return self.hub.pushed

    @property
    def dropped_updates(self) -> list[JSON]:
        return self.hub.dropped

    @property
    def webhook_deliveries(self) -> list[tuple[int, int | str]]:
        return self.hub.deliveries

    async def wait_polling(self, timeout: float = 5.0) -> None:
        """Return once a getUpdates long poll is waiting (the bot's polling loop is up)."""
        await asyncio.wait_for(self.hub.polling.wait(), timeout)

    def max_sends_per_window(self, window: float = 1.0) -> int:
        """Most accepted sends inside any `window`-second interval (benchmarks vs. 30/s)."""
        times, best, lo = self.send_times, 0, 0
        for hi, t in enumerate(times):
            while t - times[lo] >= window:
                lo += 1
            best = max(best, hi - lo + 1)
        return best

    async def wait_for(self, predicate: Callable[[JSON], object], timeout: float = 5.0, *, since: int = 0) -> JSON:
        """First send event (index >= since) matching predicate, already recorded or future."""
        return await self._sent_log.wait(predicate, timeout, since)

    async def wait_for_call(
        self, predicate: Callable[[str, dict[str, Any]], object], timeout: float = 5.0, *, since: int = 0
    ) -> Call:
        """First API call (index in `calls` >= since) matching predicate(method, params), once answered."""
        _, name, params = await self._answered.wait(lambda c: c[0] >= since and predicate(c[1], c[2]), timeout)
        return name, params
