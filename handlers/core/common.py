"""What every handler shares: one transaction per update, the user, their language, replies.

`@handler` opens the transaction, records the update as handled (an update Telegram delivers
twice is handled once: storage/updates.py), loads (or creates) the user, picks the language,
runs the feature function with a `Ctx`, commits, and only then talks to Telegram: a slow
Telegram never holds a database lock, and a failed handler sends nothing half-done. A
transaction the database rolls back to break a deadlock is run again from the start.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, Update
from telegram.error import BadRequest, Forbidden, NetworkError, TelegramError
from telegram.ext import ContextTypes

from bot import input_gate
from bot.i18n import normalize_locale, t, tn
from bot.notify import Keyboard as NotifyKeyboard
from bot.notify import message_payload, split_payload
from bot.services import Services
from bot.transport import Answer, Transport, file_param
from storage import updates as updates_store
from storage import users as users_store
from storage.models import User, utcnow

log = logging.getLogger(__name__)

REPLY_RETRY_LIMIT = 5.0  # seconds: a person waits that long for an answer, not longer
Button = tuple[str, str]  # (label, callback_data) or (label, "url:https://…")
Keyboard = Sequence[Sequence[Button]]


@dataclass
class Reply:
    text: str | None = None
    keyboard: Keyboard | None = None
    edit: bool = False
    document: tuple[str, bytes] | None = None
    photo: bytes | None = None
    chat_id: int | None = None
    photo_name: str = "photo.png"  # what a saved copy is called ("qr-session-12.png"), never a shared generic name


@dataclass
class Ctx:
    """One update's world: its transaction, its user, their language, and the replies to send."""

    services: Services
    session: AsyncSession
    user: User
    lang: str
    chat_id: int
    now: datetime
    replies: list[Reply] = field(default_factory=list)
    toast: str | None = None
    toast_alert: bool = False
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    wake_outbox: bool = False  # set when the handler queued messages to send now
    text: str | None = None  # what the person typed (message text or caption), cleaned by bot/input_gate.py
    update_id: int = 0  # Telegram's id of the update being handled: a key for one-off notices

    # -- text -------------------------------------------------------------------------------
    def t(self, key: str, **params: Any) -> str:
        return t(key, self.lang, **params)

    def tn(self, key: str, n: int, **params: Any) -> str:
        return tn(key, n, self.lang, **params)

    # -- roles ------------------------------------------------------------------------------
    @property
    def is_admin(self) -> bool:
        """A coordinator of every group (listed in COORDINATOR_IDS or appointed globally)."""
        return self.user.id in self.services.settings.coordinator_ids or self.user.is_coordinator

    async def coordinated_group_ids(self) -> list[int] | None:
        """Groups this user may manage: None means all of them, [] means none."""
        if self.is_admin:
            return None
        return await users_store.coordinated_group_ids(self.session, self.user.id)

    async def is_coordinator(self) -> bool:
        groups = await self.coordinated_group_ids()
        return groups is None or bool(groups)

    async def may_manage_group(self, group_id: int) -> bool:
        groups = await self.coordinated_group_ids()
        return groups is None or group_id in groups

    @property
    def is_crisis_cell(self) -> bool:
        return self.is_admin or self.user.is_crisis_cell

    # -- replies ----------------------------------------------------------------------------
    def say(self, key: str, keyboard: Keyboard | None = None, **params: Any) -> None:
        self.replies.append(Reply(self.t(key, **params), keyboard))

    def send(self, text: str, keyboard: Keyboard | None = None) -> None:
        self.replies.append(Reply(text, keyboard))

    def edit(self, text: str, keyboard: Keyboard | None = None) -> None:
        """Replace the message whose button was pressed (falls back to a new message)."""
        self.replies.append(Reply(text, keyboard, edit=True))

    def send_document(self, filename: str, content: bytes, caption: str | None = None) -> None:
        self.replies.append(Reply(caption, document=(filename, content)))

    def send_photo(self, content: bytes, caption: str | None = None, *, filename: str) -> None:
        self.replies.append(Reply(caption, photo=content, photo_name=filename))

    def answer(self, text: str, *, alert: bool = False) -> None:
        """The small notice shown when a button is pressed."""
        self.toast, self.toast_alert = text, alert

    def refuse(self, key: str = "common.not_allowed", **params: Any) -> None:
        """A polite no, as a button notice and as a message."""
        text = self.t(key, **params)
        self.answer(text, alert=True)
        self.send(text)


async def flush(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send the replies a handler prepared, after its transaction committed."""
    api = ctx.services.telegram(context.bot)
    query = update.callback_query
    answering = (
        asyncio.ensure_future(_answer(ctx, api, query)) if query is not None else None
    )  # alongside the replies: one round trip less per button
    try:
        await _send_replies(ctx, api, query)
    finally:
        if answering is not None:
            await answering
    for hook in ctx.after_commit:
        await hook()


async def _answer(ctx: Ctx, api: Transport, query: CallbackQuery) -> None:
    params: dict[str, Any] = {"callback_query_id": query.id}
    if ctx.toast:
        params.update(text=ctx.toast[:200], show_alert=ctx.toast_alert)
    answer = await api.call("answerCallbackQuery", params)
    if not answer.ok:  # too old to answer: harmless
        log.info("callback answer failed: %s", answer.description)


def _requests(reply: Reply, chat_id: int, query: CallbackQuery | None) -> list[tuple[str, dict[str, Any]]]:
    """The Bot API calls that deliver one reply: one, or more when the text is longer than
    Telegram takes (bot/notify.split_payload: the keyboard on the last part)."""
    if reply.document is not None or reply.photo is not None:
        method, field_name = ("sendDocument", "document") if reply.document is not None else ("sendPhoto", "photo")
        filename, content = reply.document if reply.document is not None else (reply.photo_name, reply.photo or b"")
        params: dict[str, Any] = {"chat_id": chat_id, field_name: file_param(content, filename)}
        if reply.text:
            params.update(caption=reply.text, parse_mode="HTML")
    else:
        # bot/notify.Keyboard is spelled list[list[...]] but only read: our Sequence rows are fine
        params = {"chat_id": chat_id, **message_payload(reply.text or "", cast(NotifyKeyboard | None, reply.keyboard))}
        method = "sendMessage"
        if reply.edit and query is not None and query.message is not None:
            method = "editMessageText"
            params.update(chat_id=query.message.chat.id, message_id=query.message.message_id)
    head, rest = split_payload(method, params)
    return [(method, head), *(("sendMessage", {"chat_id": chat_id, **payload}) for payload in rest)]


async def _send_replies(ctx: Ctx, api: Transport, query: CallbackQuery | None) -> None:
    for reply in ctx.replies:
        if not await _deliver(api, reply, reply.chat_id or ctx.chat_id, query):
            return


async def send_late(ctx: Ctx, context: ContextTypes.DEFAULT_TYPE, reply: Reply) -> None:
    """A reply made after the commit (a PDF or chart drawn outside the transaction), sent the
    same way as the others; for `ctx.after_commit` hooks."""
    await _deliver(ctx.services.telegram(context.bot), reply, reply.chat_id or ctx.chat_id, None)


async def _deliver(api: Transport, reply: Reply, chat_id: int, query: CallbackQuery | None) -> bool:
    """Send one reply; False when the person blocked the bot (nobody to send the rest to)."""
    for method, params in _requests(reply, chat_id, query):
        answer = await _call(api, method, params)
        if method == "editMessageText" and not answer.ok:
            if "not modified" in answer.description.lower():
                continue
            # The message is too old or gone: say it in a new one instead.
            params = {key: value for key, value in params.items() if key != "message_id"}
            answer = await _call(api, "sendMessage", {**params, "chat_id": chat_id})
        if answer.ok:
            continue
        if answer.code == 403:  # they blocked the bot meanwhile: nobody to tell
            log.info("reply not delivered: %s", answer.description)
            return False
        raise _reply_error(answer)
    return True


async def _call(api: Transport, method: str, params: dict[str, Any]) -> Answer:
    """One call; a short "retry after" from Telegram is honoured once (a long one fails the reply)."""
    answer = await api.call(method, params)
    if answer.code == 429 and answer.retry_after is not None and answer.retry_after <= REPLY_RETRY_LIMIT:
        await asyncio.sleep(answer.retry_after)
        answer = await api.call(method, params)
    return answer


def _reply_error(answer: Answer) -> TelegramError:
    """Telegram's refusal as PTB's exception, for the error handler (bot/errors.py)."""
    if answer.code == 403:
        return Forbidden(answer.description)
    if answer.code == 400:
        return BadRequest(answer.description)
    return NetworkError(answer.description or answer.kind)


HandlerFn = Callable[[Ctx, Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]
T = TypeVar("T")


async def run_once(
    services: Services, update: Update, name: str, work: Callable[[AsyncSession], Awaitable[T]]
) -> T | None:
    """`work(session)` in the update's transaction, which also records that `name` handled it.

    Every update that changes something goes through here (`@handler`, poll answers): None,
    and nothing done, when Telegram delivered this update before and `name` handled it; run
    again from the start when the database rolls the transaction back to break a deadlock.
    `work` must not return None.
    """

    async def attempt(session: AsyncSession) -> T | None:
        if not await updates_store.claim(session, update.update_id, name):
            return None
        return await work(session)

    result = await services.db.run(attempt, what=f"update {update.update_id}")
    if result is None:
        log.info("update %s already handled: delivered again, ignored", update.update_id)
    return result


def handler(fn: HandlerFn) -> Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]:
    """Wrap a feature function: transaction, user, language, then replies after commit."""

    name = f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__qualname__}"  # "bulletins.on_escalate"

    @functools.wraps(fn)
    async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        tg_user = update.effective_user
        chat = update.effective_chat
        if tg_user is None or chat is None:
            return
        services: Services = context.bot_data["services"]

        async def work(session: AsyncSession) -> Ctx:
            now = utcnow()
            user = await users_store.upsert_user(
                session,
                tg_user.id,
                first_name=tg_user.first_name or "",
                last_name=tg_user.last_name,
                username=tg_user.username,
                language=normalize_locale(tg_user.language_code, services.settings.default_locale),
            )
            lang = user.language or normalize_locale(tg_user.language_code, services.settings.default_locale)
            ctx = Ctx(services=services, session=session, user=user, lang=lang, chat_id=chat.id, now=now)
            ctx.update_id = update.update_id
            if _passes_input_gate(ctx, update, context):
                await fn(ctx, update, context)
            return ctx

        ctx = await run_once(services, update, name, work)
        if ctx is None:
            return
        await flush(ctx, update, context)
        if ctx.wake_outbox:
            services.wake_outbox()

    return wrapper


def _passes_input_gate(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Screen what the person typed (bot/input_gate.py) before any feature sees it.

    On a refusal the person is told why and nothing runs, so nothing is stored and an open
    conversation stays at the same step. Otherwise the feature reads the cleaned text from
    `ctx.text` and, for a command, its cleaned arguments from `context.args`.
    """
    message = update.message
    typed = (message.text or message.caption) if message is not None else None
    if not typed:
        return True
    screened = input_gate.screen(typed)
    if screened.refusal is not None:
        ctx.say(screened.refusal)
        return False
    ctx.text = screened.text
    if context.args is not None and message is not None and message.text and message.text.startswith("/"):
        context.args = screened.text.split()[1:]
    return True


def int_or_none(value: str, *, bits: int = 32) -> int | None:
    """A plain decimal integer that fits a `bits`-bit signed column, else None.

    Refuses what `int()` would accept but no button or command of ours produces ("1_0",
    "٣", "  7 "), and numbers a database id column cannot hold (PostgreSQL would raise).
    Use bits=64 for Telegram ids and timestamps.
    """
    if not isinstance(value, str) or not value or len(value) > 20:
        return None
    digits = value[1:] if value[0] == "-" else value
    if not (digits.isascii() and digits.isdigit()):
        return None
    number = int(value)
    limit = 1 << (bits - 1)
    return number if -limit <= number < limit else None
