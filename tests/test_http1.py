"""The keep-alive HTTP/1.1 client (bot/http1.py), through both of its users: the replies'
transport (`TelegramHTTP.call`) and PTB's request object (`AiohttpRequest`), against the fake
Bot API over real HTTP; plus the HTTP corners the fake never shows (chunked answers,
`Connection: close`, an idle connection closed by the server, a silent server), on a raw
asyncio server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio
import telegram
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.http1 import AnswerTimeout, HTTP1Pool, Lost, NotSent
from bot.request import AiohttpRequest
from bot.transport import TelegramHTTP
from tests.fakebot import FakeBotAPI

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"),
]

TOKEN = "123456:TEST-TOKEN"


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(token=TOKEN, validate_results=True) as fake:
        yield fake


@pytest_asyncio.fixture
async def http(api: FakeBotAPI) -> AsyncIterator[TelegramHTTP]:
    client = TelegramHTTP(f"{api.base_url}{TOKEN}", timeout=5.0)
    yield client
    await client.close()


@pytest_asyncio.fixture
async def ptb(api: FakeBotAPI) -> AsyncIterator[telegram.Bot]:
    bot = telegram.Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url, request=AiohttpRequest(connection_pool_size=4))
    async with bot:
        yield bot


def _user(api: FakeBotAPI, uid: int = 501) -> int:
    api.make_user(uid, "Alice")
    return uid


# ------------------------------------------------------------------------- the replies' transport
async def test_calls_share_one_keep_alive_connection(api: FakeBotAPI, http: TelegramHTTP) -> None:
    chat = _user(api)
    for i in range(5):
        answer = await http.call("sendMessage", {"chat_id": chat, "text": f"bonjour {i} — é <b>"})
        assert answer.ok and answer.result["text"] == f"bonjour {i} — é <b>"
    assert [m["text"] for m in api.sent(chat)] == [f"bonjour {i} — é <b>" for i in range(5)]
    assert http._json.opened == 1


async def test_concurrent_calls_open_no_more_connections_than_the_pool(api: FakeBotAPI) -> None:
    chats = [_user(api, 600 + i) for i in range(30)]
    client = TelegramHTTP(f"{api.base_url}{TOKEN}", timeout=5.0, pool=8)
    try:
        answers = await asyncio.gather(*(client.call("sendMessage", {"chat_id": c, "text": "x"}) for c in chats))
        assert all(a.ok for a in answers)
        assert client._json.opened <= 8
    finally:
        await client.close()
    assert len(api.sent()) == 30


async def test_429_keeps_retry_after_and_the_connection(api: FakeBotAPI, http: TelegramHTTP) -> None:
    chat = _user(api)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    answer = await http.call("sendMessage", {"chat_id": chat, "text": "a"})
    assert (answer.kind, answer.code, answer.retry_after) == ("error", 429, 3)
    assert "retry after" in answer.description
    assert (await http.call("sendMessage", {"chat_id": chat, "text": "b"})).ok
    assert http._json.opened == 1


async def test_403_from_a_person_who_blocked_the_bot(api: FakeBotAPI, http: TelegramHTTP) -> None:
    chat = _user(api)
    api.block(chat)
    answer = await http.call("sendMessage", {"chat_id": chat, "text": "a"})
    assert (answer.kind, answer.code) == ("error", 403)
    assert "blocked" in answer.description


async def test_400_for_a_bad_request(api: FakeBotAPI, http: TelegramHTTP) -> None:
    chat = _user(api)
    answer = await http.call("sendMessage", {"chat_id": chat, "text": ""})
    assert (answer.kind, answer.code) == ("error", 400)
    answer = await http.call("sendMessage", {"chat_id": chat, "text": "<b>unclosed", "parse_mode": "HTML"})
    assert (answer.kind, answer.code) == ("error", 400) and "parse" in answer.description.lower()


async def test_a_reset_connection_is_unknown_and_the_next_call_reconnects(api: FakeBotAPI, http: TelegramHTTP) -> None:
    chat = _user(api)
    assert (await http.call("sendMessage", {"chat_id": chat, "text": "a"})).ok
    api.fail_next("sendMessage", 0)  # the fake drops the connection without answering
    answer = await http.call("sendMessage", {"chat_id": chat, "text": "b"})
    assert answer.kind == "unknown"  # it may have been sent: the outbox must not blindly resend
    assert (await http.call("sendMessage", {"chat_id": chat, "text": "c"})).ok
    assert http._json.opened == 2


async def test_nothing_listening_is_not_sent() -> None:
    client = TelegramHTTP("http://127.0.0.1:9/bot123:x", timeout=2.0)
    try:
        answer = await client.call("sendMessage", {"chat_id": 1, "text": "a"})
    finally:
        await client.close()
    assert answer.kind == "not_sent"
    assert "123:x" not in answer.description  # never the token


async def test_uploads_still_go_as_multipart(api: FakeBotAPI, http: TelegramHTTP) -> None:
    from bot.transport import file_param

    chat = _user(api)
    answer = await http.call("sendDocument", {"chat_id": chat, "document": file_param(b"%PDF-1.4 x", "a.pdf", "application/pdf"), "caption": "c"})
    assert answer.ok
    assert api.files(chat)[0][1] == b"%PDF-1.4 x"


# ------------------------------------------------------------------------- PTB's request object
async def test_ptb_calls_go_over_one_connection(api: FakeBotAPI, ptb: telegram.Bot) -> None:
    chat = _user(api)
    for i in range(3):
        message = await ptb.send_message(chat, f"m{i}")
        assert message.text == f"m{i}"
    pools = ptb.request._json_pools  # type: ignore[attr-defined]
    assert [p.opened for p in pools.values()] == [1]  # get_me at start-up and three sends


async def test_ptb_sees_telegrams_errors(api: FakeBotAPI, ptb: telegram.Bot) -> None:
    chat = _user(api)
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as retry:
        await ptb.send_message(chat, "a")
    assert retry.value.retry_after == 7
    api.block(chat)
    with pytest.raises(Forbidden):
        await ptb.send_message(chat, "a")
    api.unblock(chat)
    with pytest.raises(BadRequest):
        await ptb.send_message(chat, "<b>", parse_mode="HTML")
    api.fail_next("sendMessage", 0)
    with pytest.raises(NetworkError):
        await ptb.send_message(chat, "a")
    assert (await ptb.send_message(chat, "ok")).text == "ok"


async def test_ptb_uploads_keep_using_multipart(api: FakeBotAPI, ptb: telegram.Bot) -> None:
    chat = _user(api)
    message = await ptb.send_document(chat, b"hello", filename="h.txt")
    assert message.document is not None
    assert api.files(chat)[0][1] == b"hello"


# ------------------------------------------------------------------------- raw HTTP corners
Responder = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
    return await reader.readexactly(length)


async def _serve(responder: Responder) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(responder, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/botT"


async def test_chunked_answers_and_connection_close() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"ok"\r\n9\r\n:true,"re\r\n9;ext=1\r\nsult":42}\r\n0\r\nX-Trailer: y\r\n\r\n')
        await writer.drain()
        await _read_request(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}')
        await writer.drain()
        writer.close()

    server, url = await _serve(respond)
    pool = HTTP1Pool(url)
    try:
        assert await pool.post("getMe", b"{}", timeout=2) == (200, b'{"ok":true,"result":42}')
        assert await pool.post("getMe", b"{}", timeout=2) == (200, b'{"ok":true}')
        assert pool.opened == 1
        assert not pool._idle  # closed as the server asked
    finally:
        await pool.close()
        server.close()


async def test_an_idle_connection_closed_by_the_server_is_not_reused() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        await writer.drain()
        writer.close()  # keep-alive promised, then the server times the connection out

    server, url = await _serve(respond)
    pool = HTTP1Pool(url)
    try:
        assert await pool.post("a", b"", timeout=2) == (200, b"hi")
        await asyncio.sleep(0.05)
        assert await pool.post("a", b"", timeout=2) == (200, b"hi")
        assert pool.opened == 2
    finally:
        await pool.close()
        server.close()


async def test_a_silent_server_times_out_and_a_refused_one_is_not_sent() -> None:
    async def respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_request(reader)
        await asyncio.sleep(5)

    server, url = await _serve(respond)
    pool = HTTP1Pool(url)
    try:
        with pytest.raises(AnswerTimeout):
            await pool.post("a", b"{}", timeout=0.2)
        assert isinstance(AnswerTimeout(), Lost)
    finally:
        await pool.close()
        server.close()
    with pytest.raises(NotSent):
        await HTTP1Pool("http://127.0.0.1:9/bot").post("a", b"", timeout=1)


async def test_ptb_timeout_is_timed_out(api: FakeBotAPI) -> None:
    api.latency = 1.0
    bot = telegram.Bot(TOKEN, base_url=api.base_url, request=AiohttpRequest(read_timeout=0.1, write_timeout=0.1, connect_timeout=0.1, pool_timeout=0.1))
    await bot.request.initialize()
    try:
        with pytest.raises(TimedOut):
            await bot.get_me()
    finally:
        await bot.request.shutdown()
