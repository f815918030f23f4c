"""Tests of the fake Telegram Bot API itself, driven by the real python-telegram-bot client.

If the fake drifts from Telegram (shapes, errors, limits), every bot test built on it lies;
these tests pin its behaviour to the Bot API spec (api.json) and to Telegram's documented
answers. Every fixture runs with validate_results=True: each result the fake returns is checked
against api.json (required fields, types, no invented fields) before it leaves the server.
"""

from __future__ import annotations

import asyncio
import html
import io
import struct
import time
import warnings
import zlib
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import telegram
from aiohttp import web
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter

from tests.fakebot import FakeBotAPI, check_object, check_result
from tests.fakebot.registry import HANDLERS
from tests.fakebot.spec import METHODS, Kind

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:.*retry_after.*:telegram.warnings.PTBDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:.*do_api_request.*:telegram.warnings.PTBUserWarning"),
]

TOKEN = "123456:TEST-TOKEN"


def png(width: int, height: int) -> bytes:
    """A valid PNG without any imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest_asyncio.fixture
async def api():
    async with FakeBotAPI(TOKEN, validate_results=True) as fake:
        yield fake
        assert fake.result_problems == [] and fake.internal_errors == []


@pytest_asyncio.fixture
async def bot(api: FakeBotAPI):
    b = telegram.Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url)
    async with b:
        yield b


@pytest.fixture
def camille(api: FakeBotAPI) -> dict[str, Any]:
    return api.make_user(1001, "Camille", username="camille_ide")


async def raw(api: FakeBotAPI, method: str, token: str = TOKEN, **params: Any) -> tuple[int, dict[str, Any]]:
    """One Bot API call as JSON, bypassing PTB, to see Telegram-level answers."""
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{api.base_url}{token}/{method}", json=params) as r:
            return r.status, await r.json()


def retry_after(exc: RetryAfter) -> int:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return int(value.total_seconds()) if hasattr(value, "total_seconds") else int(value)


# --------------------------------------------------------------------------- protocol
async def test_get_me_returns_the_bot_user(api: FakeBotAPI, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "relais_sante_test_bot"
    assert api.bot_user == {"id": 123456, "is_bot": True, "first_name": "Relais Santé",
                            "username": "relais_sante_test_bot"}
    assert check_object(api.bot_user, "User") == []


async def test_wrong_token_unknown_method_and_case_insensitive_names(api: FakeBotAPI) -> None:
    assert await raw(api, "getMe", token="123456:WRONG") == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert await raw(api, "getMeNow") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    status, body = await raw(api, "GETME")
    assert status == 200 and body["ok"] and body["result"]["id"] == 123456
    with pytest.raises(InvalidToken):
        await telegram.Bot("123456:WRONG", base_url=api.base_url).get_me()


async def test_json_form_and_query_string_parameters(api: FakeBotAPI, camille: dict[str, Any]) -> None:
    url = f"{api.base_url}{TOKEN}/sendMessage"
    markup = '{"inline_keyboard": [[{"text": "Oui", "callback_data": "y"}]]}'
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data={"chat_id": "1001", "text": "form", "reply_markup": markup}) as r:
            assert (await r.json())["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
        async with s.get(url, params={"chat_id": "1001", "text": "query"}) as r:
            assert (await r.json())["result"]["text"] == "query"
        async with s.post(url, json={"chat_id": 1001, "text": "json", "disable_notification": True}) as r:
            assert (await r.json())["result"]["text"] == "json"
        form = aiohttp.FormData(quote_fields=False)
        form.add_field("chat_id", "1001")
        form.add_field("reply_markup", markup)
        form.add_field("document", b"a;b\n", filename="récap.csv", content_type="text/csv")
        async with s.post(f"{api.base_url}{TOKEN}/sendDocument", data=form) as r:
            result = (await r.json())["result"]
            assert result["document"]["file_name"] == "récap.csv" and result["reply_markup"]
    assert [m.get("text") for m in api.sent(1001)] == ["form", "query", "json", None]
    assert api.files() == [("récap.csv", b"a;b\n", None)]
    assert api.calls[0] == ("sendMessage", {"chat_id": 1001, "text": "form",
                                            "reply_markup": {"inline_keyboard": [[{"text": "Oui", "callback_data": "y"}]]}})


async def test_missing_required_parameters_are_bad_requests(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.do_api_request("sendMessage", api_kwargs={"chat_id": 1001})
    assert await raw(api, "getChat") == (400, {"ok": False, "error_code": 400, "description": "Bad Request: chat_id is empty"})
    status, body = await raw(api, "sendDocument", chat_id=1001)
    assert (status, body["description"]) == (400, "Bad Request: there is no document in the request")
    status, body = await raw(api, "setChatTitle", chat_id=1001)
    assert (status, body["description"]) == (400, "Bad Request: title is required")


# --------------------------------------------------------------------------- messages
async def test_send_message_returns_a_complete_message(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("S'inscrire", callback_data="rdv:42")]])
    msg = await bot.send_message(1001, "Rencontres <b>à venir</b>", parse_mode="HTML", reply_markup=keyboard)
    assert msg.text == "Rencontres à venir" and msg.entities[0].type == "bold"
    assert msg.from_user.id == 123456 and msg.chat.id == 1001 and msg.chat.type == "private"
    sent = api.sent(1001)[0]
    assert sent["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "rdv:42"
    assert check_object(sent, "Message") == []
    assert api.messages() == api.sent() == [sent]


async def test_html_is_validated_like_telegram(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    user_text = "Dr <Martin> & co"
    with pytest.raises(BadRequest, match=r'(?i)unsupported start tag "martin" at byte offset 3'):
        await bot.send_message(1001, user_text, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Can't parse entities: unsupported start tag \"\""):
        await bot.send_message(1001, "2 < 3", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't find end tag corresponding to start tag \"b\""):
        await bot.send_message(1001, "<b>gras", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)unsupported start tag \"br\""):
        await bot.send_message(1001, "ligne<br>ligne", parse_mode="HTML")
    ok = await bot.send_message(1001, f"<i>{html.escape(user_text)}</i>", parse_mode="HTML")
    assert ok.text == user_text
    link = await bot.send_message(1001, '<a href="https://sante.fr/?a=1&amp;b=2">lien</a> <tg-spoiler>x</tg-spoiler>',
                                  parse_mode="HTML")
    assert [(e.type, e.url) for e in link.entities] == [("text_link", "https://sante.fr/?a=1&b=2"), ("spoiler", None)]
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await bot.send_message(1001, "Fin.", parse_mode="MarkdownV2")
    assert len(api.sent()) == 2


async def test_text_limits_and_keyboards(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    await bot.send_message(1001, "é" * 4096)
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(1001, "é" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(1001, "  \n ")
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(1001, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("trop long", callback_data="é" * 33)]]))
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(1001, b"x", filename="a.txt", caption="c" * 1025)
    # Counted in UTF-16 code units after entity parsing: an emoji is two, a tag nothing, &amp; one.
    await bot.send_message(1001, "<b>" + "&amp;" * 4000 + "</b>" + "😀" * 48, parse_mode="HTML")
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(1001, "😀" * 2049)
    with pytest.raises(BadRequest, match="Message caption is too long"):
        await bot.send_document(1001, b"x", filename="a.txt", caption="<i>" + "🩺" * 513 + "</i>", parse_mode="HTML")
    await bot.send_document(1001, b"x", filename="a.txt", caption="<i>" + "🩺" * 512 + "</i>", parse_mode="HTML")
    reply_kb = telegram.ReplyKeyboardMarkup([["Oui", "Non"]])
    msg = await bot.send_message(1001, "choix", reply_markup=reply_kb)
    assert msg.reply_markup is None  # Telegram echoes inline keyboards only
    assert api.calls[-1][1]["reply_markup"] == {"keyboard": [[{"text": "Oui"}, {"text": "Non"}]]}


async def test_edit_delete_and_message_views(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("A", callback_data="a")]])
    msg = await bot.send_message(1001, "v1", reply_markup=kb)
    edited = await bot.edit_message_text("v2", chat_id=1001, message_id=msg.message_id, reply_markup=kb)
    assert edited.text == "v2" and edited.edit_date is not None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("v2", chat_id=1001, message_id=msg.message_id, reply_markup=kb)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("v3", chat_id=1001, message_id=999)
    no_kb = await bot.edit_message_reply_markup(chat_id=1001, message_id=msg.message_id)
    assert no_kb.reply_markup is None
    assert [m["text"] for m in api.messages(1001)] == ["v2"] and "reply_markup" not in api.messages(1001)[0]
    assert [m["text"] for m in api.sent(1001)] == ["v1"]  # deliveries are never rewritten
    assert await bot.delete_message(1001, msg.message_id) is True
    assert api.messages(1001) == [] and len(api.sent(1001)) == 1
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(1001, msg.message_id)


async def test_blocked_user_and_unknown_chat(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    api.block(1001)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(1001, "hello")
    with pytest.raises(Forbidden):
        await bot.send_chat_action(1001, "typing")
    api.unblock(1001)
    await bot.send_message(1001, "hello")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(4242, "hello")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(-100123, "hello")


async def test_channel_and_group_chats(api: FakeBotAPI, bot: telegram.Bot) -> None:
    api.add_chat(chat_id=-100123, type="channel", title="Relais Santé — Crise", username="relais_crise")
    post = await bot.send_message("@relais_crise", "Alerte")
    assert post.chat.type == "channel" and post.sender_chat.id == -100123 and post.from_user is None
    info = await bot.get_chat(-100123)
    assert info.title == "Relais Santé — Crise"
    member = await bot.get_chat_member(-100123, 123456)
    assert member.status == "administrator"
    u = api.make_user(7, "Lou")
    assert (await bot.get_chat_member(-100123, 7)).status == "member"
    api.set_member(-100123, 7, "left")
    assert (await bot.get_chat_member(-100123, 7)).status == "left"
    assert await bot.pin_chat_message(-100123, post.message_id)
    with pytest.raises(BadRequest, match="anonymous"):
        await bot.send_poll(-100123, "Q?", ["a", "b"], is_anonymous=False)
    api.add_chat(chat_id=-42, type="group", title="Équipe")
    api.send_text(u, "/rencontres@relais_sante_test_bot", chat=-42)
    update = api.updates[-1]["message"]
    assert update["chat"]["type"] == "group"
    assert update["entities"] == [{"type": "bot_command", "offset": 0, "length": 33}]


# --------------------------------------------------------------------------- files
async def test_document_and_photo_uploads_round_trip(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    csv = "nom;date\nAtelier;2025-03-01\n".encode()
    doc = await bot.send_document(1001, io.BytesIO(csv), filename="rencontres.csv", caption="<b>Export</b>",
                                  parse_mode="HTML")
    assert doc.document.file_name == "rencontres.csv" and doc.document.mime_type == "text/csv"
    assert doc.caption == "Export" and doc.document.file_size == len(csv)
    picture = png(300, 200)
    photo = await bot.send_photo(1001, picture, caption="graphique")
    assert (photo.photo[-1].width, photo.photo[-1].height) == (300, 200)
    assert api.files(1001) == [("rencontres.csv", csv, "Export"), ("application.octet-stream", picture, "graphique")]
    with pytest.raises(BadRequest, match="Image_process_failed"):
        await bot.send_photo(1001, b"not an image")
    again = await bot.send_document(1001, doc.document.file_id)  # resend by file_id
    assert again.document.file_id == doc.document.file_id
    f = await bot.get_file(photo.photo[-1].file_id)
    assert bytes(await f.download_as_bytearray()) == picture


async def test_user_uploaded_document_can_be_downloaded(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    ics = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
    api.send_document(camille, "agenda.ics", ics, "text/calendar", caption="mon agenda")
    (update,) = await bot.get_updates()
    assert check_object(update.to_dict(), "Update") == []
    f = await update.message.document.get_file()
    assert f.file_path.endswith(".ics") and bytes(await f.download_as_bytearray()) == ics
    with pytest.raises(BadRequest, match="Invalid file_id"):
        await bot.get_file("nope")


# --------------------------------------------------------------------------- updates
async def test_long_poll_is_held_until_an_update_arrives(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_polling()
    assert not poll.done()
    pushed = api.send_text(camille, "/rencontres")
    (update,) = await poll
    assert time.monotonic() - started < 5
    assert update.update_id == pushed["update_id"] == 1
    assert update.message.text == "/rencontres" and update.message.entities[0].type == "bot_command"
    # offset confirms; limit caps; a short timeout expires empty
    for i in range(3):
        api.send_text(camille, f"m{i}")
    assert [u.message.text for u in await bot.get_updates(offset=2, limit=2)] == ["m0", "m1"]
    assert [u.message.text for u in await bot.get_updates(offset=4)] == ["m2"]
    assert await bot.get_updates(offset=5, timeout=1) == ()


async def test_allowed_updates_and_competing_pollers(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    api.send_text(camille, "ignoré")
    assert await bot.get_updates() == () and len(api.dropped_updates) == 1
    await bot.get_updates(allowed_updates=[])  # back to Telegram's default set
    first = asyncio.create_task(bot.get_updates(timeout=30))
    await api.wait_polling()
    async with telegram.Bot(TOKEN, base_url=api.base_url) as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=30))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first
        await api.wait_polling()
        api.send_text(camille, "reçu")
        assert [u.message.text for u in await second] == ["reçu"]


async def test_webhook_delivery_with_secret_and_conflict(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    received: asyncio.Queue[tuple[str | None, dict[str, Any]]] = asyncio.Queue()

    async def hook(request: web.Request) -> web.Response:
        await received.put((request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json()))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        api.send_text(camille, "avant")  # queued before the webhook: delivered to it
        assert await bot.set_webhook(url, secret_token="s3cret_token", allowed_updates=["message"])
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        api.send_text(camille, "après")
        got = [await asyncio.wait_for(received.get(), 5) for _ in range(2)]
        assert [(secret, u["message"]["text"]) for secret, u in got] == [("s3cret_token", "avant"), ("s3cret_token", "après")]
        info = await bot.get_webhook_info()
        assert info.url == url and info.pending_update_count == 0
        assert await bot.delete_webhook()
        assert (await bot.get_webhook_info()).url == ""
        api.send_text(camille, "polling")
        assert [u.message.text for u in await bot.get_updates()] == ["polling"]
    finally:
        await runner.cleanup()


async def test_ptb_application_polling_end_to_end(api: FakeBotAPI, camille: dict[str, Any]) -> None:
    from telegram.ext import ApplicationBuilder, CommandHandler

    async def start(update: telegram.Update, context: Any) -> None:
        await update.message.reply_html(f"Bienvenue {html.escape(update.effective_user.first_name)} !")

    app = ApplicationBuilder().token(TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        api.send_text(camille, "/start")
        msg = await api.wait_for(lambda m: m["text"].startswith("Bienvenue"))
        assert msg["text"] == "Bienvenue Camille !" and msg["chat"]["id"] == 1001
        await app.updater.stop()
        await app.stop()


# --------------------------------------------------------------------------- interactions
async def test_callback_press_and_answer(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    kb = InlineKeyboardMarkup([[InlineKeyboardButton("Oui", callback_data="yes"),
                                InlineKeyboardButton("Site", url="https://sante.fr")]])
    await bot.send_message(1001, "Confirmer ?", reply_markup=kb)
    (sent,) = api.messages(1001)
    with pytest.raises(ValueError, match="no button with callback_data 'no'"):
        api.press(camille, sent, "no")
    api.press_button(camille, sent, "Oui")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert query.data == "yes" and query.message.message_id == sent["message_id"]
    assert await bot.answer_callback_query(query.id, text="Noté", show_alert=True)
    assert api.callback_answers[query.id]["text"] == "Noté"
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(query.id)
    with pytest.raises(BadRequest, match="(?i)wrong http url"):
        await bot.send_message(1001, "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("local", url="http://localhost:8000/x")]]))


async def test_polls(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    msg = await bot.send_poll(1001, "Quel créneau ?", ["Mardi", "Jeudi"], is_anonymous=False)
    assert msg.poll.is_closed is False and [o.text for o in msg.poll.options] == ["Mardi", "Jeudi"]
    answer = api.answer_poll(camille, msg.poll.id, [1])
    (update,) = await bot.get_updates()
    assert update.poll_answer.option_ids == (1,) and update.update_id == answer["update_id"]
    assert api.messages(1001)[0]["poll"]["options"][1]["voter_count"] == 1
    stopped = await bot.stop_poll(1001, msg.message_id)
    assert stopped.is_closed and stopped.options[1].voter_count == 1
    with pytest.raises(BadRequest, match="Poll has already been closed"):
        await bot.stop_poll(1001, msg.message_id)
    anonymous = await bot.send_poll(1001, "Anonyme ?", ["a", "b"])
    with pytest.raises(ValueError, match="anonymous"):
        api.answer_poll(camille, anonymous.poll.id, [0])


async def test_commands_per_scope_and_language(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    cmds = [telegram.BotCommand("rencontres", "Prochaines rencontres"), telegram.BotCommand("aide", "Aide")]
    assert await bot.set_my_commands(cmds)
    assert await bot.set_my_commands(cmds[:1], scope=telegram.BotCommandScopeChat(1001), language_code="fr")
    assert [c["command"] for c in api.commands()] == ["rencontres", "aide"]
    assert api.commands({"type": "chat", "chat_id": 1001}, "fr") == [
        {"command": "rencontres", "description": "Prochaines rencontres"}]
    assert [c.command for c in await bot.get_my_commands()] == ["rencontres", "aide"]
    assert await bot.get_my_commands(language_code="en") == ()
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([telegram.BotCommand("Rencontres", "majuscule")])
    assert await bot.delete_my_commands()
    assert api.commands() == []


async def test_copy_forward_and_reply(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    api.add_chat(chat_id=-100200, type="supergroup", title="Modération")
    api.send_text(camille, "Question sur l'atelier")
    (update,) = await bot.get_updates()
    copied = await bot.copy_message(-100200, 1001, update.message.message_id)
    forwarded = await bot.forward_message(-100200, 1001, update.message.message_id)
    assert forwarded.forward_origin.sender_user.id == 1001
    reply = await update.message.reply_text("Merci !", do_quote=True)
    assert reply.reply_to_message.text == "Question sur l'atelier"
    assert [m["message_id"] for m in api.sent(-100200)] == [copied.message_id, forwarded.message_id]
    api.send_text(camille, "et la date ?", reply_to=reply)
    (later,) = await bot.get_updates(offset=update.update_id + 1)
    assert later.message.reply_to_message.message_id == reply.message_id
    with pytest.raises(BadRequest, match="Message to copy not found"):
        await bot.copy_message(-100200, 1001, 999)


# --------------------------------------------------------------------------- knobs
async def test_fail_next_and_latency(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    api.fail_next("sendMessage", 502, count=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(1001, "x")
    api.fail_next("sendmessage", 0)
    with pytest.raises(NetworkError):
        await bot.send_message(1001, "x")
    api.fail_next("*", 429, "Too Many Requests: retry after 7", retry_after=7)
    with pytest.raises(RetryAfter) as exc:
        await bot.send_message(1001, "x")
    assert retry_after(exc.value) == 7
    await bot.send_message(1001, "enfin")
    assert [m["text"] for m in api.sent()] == ["enfin"]
    api.latency = 0.05
    started = time.monotonic()
    await bot.get_me()
    assert time.monotonic() - started >= 0.05


async def test_private_chat_limit_answers_429_with_retry_after(bot: telegram.Bot, api: FakeBotAPI, camille: dict[str, Any]) -> None:
    api.enforce_limits = True
    await bot.send_message(1001, "1")
    with pytest.raises(RetryAfter) as exc:
        await bot.send_message(1001, "2")
    assert retry_after(exc.value) == 1 and api.count_429 == 1
    assert len(api.send_times) == 1


async def test_global_group_and_paid_limits_with_a_fake_clock() -> None:
    now = [0.0]
    async with FakeBotAPI(TOKEN, enforce_limits=True, clock=lambda: now[0], validate_results=True) as api:
        for uid in range(1, 41):
            api.make_user(uid, f"U{uid}")
        async with telegram.Bot(TOKEN, base_url=api.base_url) as bot:
            for uid in range(1, 31):
                await bot.send_message(uid, "diffusion")
            with pytest.raises(RetryAfter):
                await bot.send_message(31, "diffusion")
            await bot.send_message(31, "payant", allow_paid_broadcast=True)
            now[0] = 1.0
            await bot.send_message(32, "seconde suivante")
            api.add_chat(chat_id=-100123, type="channel", title="Crise")
            for _ in range(20):
                now[0] += 1.0
                await bot.send_message(-100123, "alerte")
            now[0] += 1.0
            with pytest.raises(RetryAfter) as exc:
                await bot.send_message(-100123, "alerte 21")
            assert retry_after(exc.value) == 40
        assert api.count_429 == 2 and api.max_sends_per_window(1.0) == 31


async def test_wait_for_is_event_driven_and_explains_timeouts(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    waiter = asyncio.create_task(api.wait_for(lambda m: m["text"] == "deux"))
    await bot.send_message(1001, "un")
    await bot.send_poll(1001, "Q ?", ["a", "b"])  # no "text": predicate KeyError means "no match"
    await bot.send_message(1001, "deux")
    assert (await waiter)["text"] == "deux"
    assert (await api.wait_for(lambda m: m["text"] == "un"))["message_id"] == 1
    with pytest.raises(asyncio.TimeoutError, match="(?s)no send matched within 0.05s.*'deux'"):
        await api.wait_for(lambda m: m["text"] == "trois", timeout=0.05)
    method, params = await api.wait_for_call(lambda name, p: name == "sendPoll")
    assert params["question"] == "Q ?"


# --------------------------------------------------------------------------- spec coverage
def _sample(name: str, kind: Kind) -> Any:
    if name in ("chat_id", "user_id", "from_chat_id"):
        return 1001
    return {Kind.INT: 1, Kind.FLOAT: 1.0, Kind.BOOL: True, Kind.STR: "x", Kind.INT_OR_STR: 1001,
            Kind.FILE: "x", Kind.JSON: {}}[kind]


async def test_every_api_json_method_answers_within_the_spec(api: FakeBotAPI, camille: dict[str, Any]) -> None:
    """Unmodelled methods still validate their parameters and return their declared type."""
    outcomes: dict[str, int] = {}
    for spec in METHODS.values():
        if spec.name in ("getUpdates", "logOut", "close", "setWebhook"):
            continue
        params = {n: _sample(n, spec.params[n].kind) for n in spec.required}
        status, body = await raw(api, spec.name, **params)
        outcomes[spec.name] = status
        assert status in (200, 400), (spec.name, body)
        if status == 200:
            assert check_result(spec.name, body["result"]) == [], spec.name
        if spec.required:
            first = spec.required[0]
            status, body = await raw(api, spec.name, **{k: v for k, v in params.items() if k != first})
            assert status == 400, (spec.name, first, body)
    assert sum(s == 200 for s in outcomes.values()) > 120
    assert all(name.lower() in METHODS for name in HANDLERS)


async def test_raw_updates_teach_the_fake_like_telegram(api: FakeBotAPI, bot: telegram.Bot) -> None:
    lou = {"id": 2002, "is_bot": False, "first_name": "Lou"}
    private = {"id": 2002, "type": "private", "first_name": "Lou"}
    api.push_update({"message": {"message_id": 7, "date": 0, "chat": private, "from": lou, "text": "salut"}})
    (update,) = await bot.get_updates()
    reply = await update.message.reply_text("Bonjour Lou", do_quote=True)  # chat and message now known
    assert reply.message_id == 8 and reply.reply_to_message.message_id == 7
    member = {"status": "kicked", "user": api.bot_user, "until_date": 0}
    api.push_update({"my_chat_member": {"chat": private, "from": lou, "date": 0,
                                        "old_chat_member": {"status": "member", "user": api.bot_user},
                                        "new_chat_member": member}})
    with pytest.raises(Forbidden):
        await bot.send_message(2002, "encore ?")
    with pytest.raises(ValueError, match="exactly one of"):
        api.push_update({"message": {}, "poll": {}})


async def test_group_privacy_mode(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    api.privacy_mode = True
    assert (await bot.get_me()).can_read_all_group_messages is False
    api.add_chat(chat_id=-100300, type="supergroup", title="Soignants 93")
    api.send_text(camille, "bavardage", chat=-100300)
    api.send_text(camille, "/aide", chat=-100300)
    api.send_text(camille, "bavardage privé")
    assert [u.message.text for u in await bot.get_updates()] == ["/aide", "bavardage privé"]
    assert [u["message"]["text"] for u in api.dropped_updates] == ["bavardage"]


async def test_media_group_and_spec_driven_sends(api: FakeBotAPI, bot: telegram.Bot, camille: dict[str, Any]) -> None:
    album = await bot.send_media_group(1001, [telegram.InputMediaPhoto(png(10, 10), caption="un"),
                                              telegram.InputMediaPhoto(png(20, 10))])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert [c for _, _, c in api.files(1001)] == ["un", None]
    where = await bot.send_location(1001, latitude=48.85, longitude=2.35)
    assert (where.location.latitude, where.location.longitude) == (48.85, 2.35)
    dice = await bot.send_dice(1001)
    assert dice.dice.value >= 1
    assert await bot.set_chat_title(1001, "x") is True
    admins = await bot.get_chat_administrators(1001)
    assert admins == ()


async def test_ptb_application_webhook_end_to_end(api: FakeBotAPI, camille: dict[str, Any]) -> None:
    import socket

    from telegram.ext import ApplicationBuilder, MessageHandler, filters

    async def echo(update: telegram.Update, context: Any) -> None:
        await update.message.reply_text(f"reçu : {update.message.text}")

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = ApplicationBuilder().token(TOKEN).base_url(api.base_url).base_file_url(api.base_file_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        await app.updater.start_webhook(listen="127.0.0.1", port=port, url_path="tg",
                                        webhook_url=f"http://127.0.0.1:{port}/tg", secret_token="relais-secret")
        assert api.hub.webhook is not None and api.hub.webhook.secret_token == "relais-secret"
        api.send_text(camille, "bonjour")
        msg = await api.wait_for(lambda m: m["text"].startswith("reçu"))
        assert msg["text"] == "reçu : bonjour"
        assert api.webhook_deliveries == [(1, 200)]
        await app.updater.stop()
        await app.stop()
