"""Guards around the features: before them, a per-user throttle, a file-size limit and edits
ignored; after them, a polite answer to what no feature handled (unknown command, stray file,
stale button) instead of silence.

A person (or a script) sending hundreds of messages a minute gets one polite notice, then
silence until they slow down; everyone else is served as usual (the processor queues each
user on their own lock, so a flood only ever waits behind itself). The bucket lives in
memory: each process throttles what it receives, which is what protects it.

Settings (`settings.extra`): FLOOD_BURST (default 40 updates at once), FLOOD_PER_MINUTE
(default 60 sustained; 0 disables the throttle), MAX_FILE_MB (default 10).
Coordinators listed in COORDINATOR_IDS are never throttled.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from telegram import Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.i18n import normalize_locale, t

log = logging.getLogger(__name__)

DEFAULT_BURST = 40
DEFAULT_PER_MINUTE = 60
DEFAULT_MAX_FILE_MB = 10
GUARD_GROUP = -2  # before every feature handler (group 0) and the file guard (-1)
FILE_GROUP = -1


class Verdict(Enum):
    PASS = "pass"
    NOTICE = "notice"  # first update over the limit: drop it and say so once
    DROP = "drop"  # still flooding: drop silently


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float
    noticed: bool = False


class FloodGuard:
    """A token bucket per user: `burst` updates at once, then `per_minute` sustained.

    Every update over the limit empties the bucket again, so someone who keeps flooding
    stays silenced; the notice is re-armed only once the bucket has refilled halfway
    (they really slowed down).
    """

    def __init__(
        self,
        burst: int = DEFAULT_BURST,
        per_minute: float = DEFAULT_PER_MINUTE,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = max(burst, 1)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[int, _Bucket] = {}
        self._checks = 0
        self.dropped = 0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def check(self, user_id: int) -> Verdict:
        if not self.enabled:
            return Verdict.PASS
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        self._checks += 1
        if self._checks % 1000 == 0:
            self._prune(now)
        if bucket.noticed and bucket.tokens >= self.burst / 2:
            bucket.noticed = False
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Verdict.PASS
        bucket.tokens = 0.0
        self.dropped += 1
        if bucket.noticed:
            return Verdict.DROP
        bucket.noticed = True
        return Verdict.NOTICE

    def _prune(self, now: float) -> None:
        """Forget users whose bucket is full again (memory stays bounded by active users)."""
        full = [uid for uid, b in self._buckets.items() if b.tokens + (now - b.stamp) * self.rate >= self.burst]
        for uid in full:
            del self._buckets[uid]


def _int_setting(extra: Mapping[str, str], name: str, default: int) -> int:
    try:
        return max(int(extra.get(name, default)), 0)
    except (TypeError, ValueError):
        log.warning("%s is not a number; using %s", name, default)
        return default


def max_file_bytes(extra: Mapping[str, str]) -> int:
    """MAX_FILE_MB from the settings (tests) or the environment (`.env`, where config leaves it)."""
    source = (
        extra if "MAX_FILE_MB" in extra else {"MAX_FILE_MB": os.environ.get("MAX_FILE_MB", str(DEFAULT_MAX_FILE_MB))}
    )
    return _int_setting(source, "MAX_FILE_MB", DEFAULT_MAX_FILE_MB) * 1024 * 1024


def _lang(update: Update) -> str:
    user = update.effective_user
    return normalize_locale(user.language_code if user else None)


def _private_chat_id(update: Update) -> int | None:
    chat = update.effective_chat
    return chat.id if chat is not None and chat.type == "private" else None


async def _tell(context: ContextTypes.DEFAULT_TYPE, chat_id: int | None, text: str) -> None:
    if chat_id is None:
        return
    try:
        await context.bot.send_message(chat_id, text, parse_mode="HTML")
    except Exception as exc:  # a notice that cannot be delivered is not worth an error
        log.info("guard notice to %s not sent: %s", chat_id, type(exc).__name__)


def _counts_toward_flood(update: Update) -> bool:
    """What a person types or taps; Telegram's own notifications (polls, joins) are not counted."""
    return bool(update.message or update.edited_message or update.callback_query or update.inline_query)


# What Telegram sends a bot connected to a business account: messages between that account and
# its own customers. This bot is not a business bot; answering them would write to strangers.
BUSINESS_KINDS = ("business_connection", "business_message", "edited_business_message", "deleted_business_messages")


async def guard(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -2: ignore business updates, throttle floods, ignore edits (a changed answer must be sent again)."""
    if not isinstance(update, Update):
        return
    if any(getattr(update, kind, None) is not None for kind in BUSINESS_KINDS):
        raise ApplicationHandlerStop
    user = update.effective_user
    flood: FloodGuard | None = context.bot_data.get("flood_guard")
    if user is not None and flood is not None and _counts_toward_flood(update):
        services = context.bot_data.get("services")
        admins = services.settings.coordinator_ids if services is not None else frozenset()
        if user.id not in admins:
            verdict = flood.check(user.id)
            if verdict is Verdict.NOTICE:
                log.warning("flood: user %s throttled", user.id)
                await _tell(context, _private_chat_id(update), t("guard.flood", _lang(update)))
            if verdict is not Verdict.PASS:
                raise ApplicationHandlerStop
    if update.edited_message is not None or update.edited_channel_post is not None:
        # Re-running an edited command, or taking an edited text as the next answer of a
        # conversation, would surprise people: only new messages count.
        if update.edited_message is not None and update.edited_message.text:
            await _tell(context, _private_chat_id(update), t("guard.edit_ignored", _lang(update)))
        raise ApplicationHandlerStop


def _declared_size(message: Message) -> int:
    sizes = [
        getattr(item, "file_size", None) or 0
        for item in (
            message.document,
            message.video,
            message.audio,
            message.voice,
            message.animation,
            message.video_note,
            message.sticker,
        )
        if item is not None
    ]
    if message.photo:
        sizes.append(max((p.file_size or 0) for p in message.photo))
    return max(sizes, default=0)


async def file_guard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Group -1: refuse files over MAX_FILE_MB before any feature downloads them."""
    message = update.effective_message
    if message is None:
        return
    services = context.bot_data.get("services")
    limit = max_file_bytes(services.settings.extra if services is not None else {})
    size = _declared_size(message)
    if limit and size > limit:
        log.info("file of %s bytes refused (limit %s)", size, limit)
        await _tell(
            context, _private_chat_id(update), t("guard.file_too_big", _lang(update), limit_mb=limit // (1024 * 1024))
        )
        raise ApplicationHandlerStop


async def on_unexpected_content(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Last handler of group 0: a file, sticker or location nobody asked for, in private."""
    await _tell(context, _private_chat_id(update), t("guard.unexpected_content", _lang(update)))


async def on_unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Last handler of group 0: a command we do not have (a typo, an old one), in private."""
    await _tell(context, _private_chat_id(update), t("guard.unknown_command", _lang(update)))


def install(application: Application) -> None:
    """Create the throttle from settings and register the guards (group -2 and -1)."""
    services = application.bot_data.get("services")
    extra: Mapping[str, str] = services.settings.extra if services is not None else {}
    application.bot_data["flood_guard"] = FloodGuard(
        _int_setting(extra, "FLOOD_BURST", DEFAULT_BURST), _int_setting(extra, "FLOOD_PER_MINUTE", DEFAULT_PER_MINUTE)
    )
    application.add_handler(TypeHandler(Update, guard), group=GUARD_GROUP)
    application.add_handler(MessageHandler(filters.ATTACHMENT, file_guard), group=FILE_GROUP)


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Last handler of group 0: a button no feature knows (an old message, a forged one)."""
    query = update.callback_query
    if query is None:
        return
    try:
        await query.answer(t("common.stale_button", _lang(update)))
    except Exception as exc:  # too old to answer: nothing to say then
        log.info("unknown button not answered: %s", type(exc).__name__)


def fallback_handlers() -> list[BaseHandler[Update, ContextTypes.DEFAULT_TYPE, None]]:
    """Register last in group 0: what no feature took gets a hint, not silence."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    return [
        MessageHandler(private & filters.COMMAND, on_unknown_command),
        MessageHandler(private & ~filters.TEXT & ~filters.StatusUpdate.ALL, on_unexpected_content),
        CallbackQueryHandler(on_unknown_button),
    ]
