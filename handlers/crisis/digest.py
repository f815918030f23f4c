"""Digests: the bulletins since the last digest, grouped by category, one line each.

Normal rhythm: weekly (DIGEST_SCHEDULE, default Monday 08:00); crisis mode (/crise on): twice
a day (DIGEST_CRISIS_SCHEDULE, default 08:00 and 18:00), in the bot's time zone. The job wakes
every minute and works out the latest scheduled slot; a `crisis_runs` row keyed by that slot
is inserted first (unique key), so a digest happens once however many processes run or
restart. A digest covers bulletins published after the previous slot and up to its own
slot; with nothing new, nothing is posted.

The channel gets the whole digest; each professional gets, privately, only the categories
they follow (/abonnements) among the bulletins addressed to them. Long digests are split
between items, each message under Telegram's 4,096-character limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
from telegram.ext import Application

from bot.i18n import SafeHTML, t, tn
from bot.notify import message_payload
from bot.services import Services
from bot.transport import file_param
from handlers.crisis.bulletins import fix_channel_edits
from handlers.crisis.crisis_kit import gather, kit_filename, render
from handlers.crisis.reports import deliver_waiting_reports
from handlers.crisis.shared import (
    PRIORITY_ICONS,
    category_label,
    cell_targets,
    channel_chat_id,
    channel_link,
    source_label,
)
from storage import crisis as store
from storage import outbox
from storage.crisis_models import Bulletin
from storage.models import utcnow

log = logging.getLogger(__name__)

DEFAULT_SCHEDULE = "lun 08:00"
DEFAULT_CRISIS_SCHEDULE = "08:00,18:00"
TEXT_LIMIT = 4096  # Telegram's limit, in UTF-16 code units
SAFETY = 96
ITEM_MAX = 600
DAYS = {
    "lun": 0, "lundi": 0, "mon": 0, "monday": 0,
    "mar": 1, "mardi": 1, "tue": 1, "tuesday": 1,
    "mer": 2, "mercredi": 2, "wed": 2, "wednesday": 2,
    "jeu": 3, "jeudi": 3, "thu": 3, "thursday": 3,
    "ven": 4, "vendredi": 4, "fri": 4, "friday": 4,
    "sam": 5, "samedi": 5, "sat": 5, "saturday": 5,
    "dim": 6, "dimanche": 6, "sun": 6, "sunday": 6,
}  # fmt: skip
_ENTRY = re.compile(r"^(?:(?P<day>[a-zé]+)\s+)?(?P<h>\d{1,2})\s*(?:[:h]\s*(?P<m>\d{2})?)?$")


# -- schedules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Slot:
    weekday: int | None  # None: every day
    hour: int
    minute: int


def parse_schedule(raw: str) -> list[Slot]:
    """ "lun 08:00", "08:00,18:00", "vendredi 17h30" → slots; "" → none. ValueError if malformed."""
    slots = []
    for entry in raw.replace(";", ",").split(","):
        entry = " ".join(entry.strip().lower().split())
        if not entry:
            continue
        match = _ENTRY.match(entry)
        if not match:
            raise ValueError(f"horaire illisible : {entry!r} (attendu « lun 08:00 » ou « 08:00 »)")
        day = match["day"]
        if day is not None and day not in DAYS:
            raise ValueError(f"jour inconnu : {day!r}")
        hour, minute = int(match["h"]), int(match["m"] or 0)
        if hour > 23 or minute > 59:
            raise ValueError(f"heure impossible : {entry!r}")
        slots.append(Slot(DAYS[day] if day else None, hour, minute))
    return slots


def schedule_for(services: Services, crisis: bool) -> list[Slot]:
    extra = services.settings.extra
    if crisis:
        return parse_schedule(extra.get("DIGEST_CRISIS_SCHEDULE", DEFAULT_CRISIS_SCHEDULE))
    return parse_schedule(extra.get("DIGEST_SCHEDULE", DEFAULT_SCHEDULE))


def _candidates(slots: Sequence[Slot], local: datetime, days: range, tz: ZoneInfo) -> list[datetime]:
    found = []
    for offset in days:
        day = local.date() + timedelta(days=offset)
        for slot in slots:
            if slot.weekday is None or slot.weekday == day.weekday():
                found.append(datetime.combine(day, time(slot.hour, slot.minute), tzinfo=tz))
    return found


def latest_slot(slots: Sequence[Slot], now: datetime, tz: ZoneInfo) -> datetime | None:
    """The most recent scheduled moment at or before `now` (UTC), or None without a schedule."""
    local = now.astimezone(tz)
    past = [c for c in _candidates(slots, local, range(-7, 1), tz) if c <= local]
    return max(past).astimezone(UTC) if past else None


def next_slot(slots: Sequence[Slot], now: datetime, tz: ZoneInfo) -> datetime | None:
    local = now.astimezone(tz)
    future = [c for c in _candidates(slots, local, range(0, 8), tz) if c > local]
    return min(future).astimezone(UTC) if future else None


async def next_digest_at(session: AsyncSession, services: Services, now: datetime) -> datetime | None:
    mode = await store.crisis_mode(session)
    try:
        return next_slot(schedule_for(services, mode["on"]), now, services.tz)
    except ValueError:
        return None


# -- rendering ----------------------------------------------------------------------------------
def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def item_line(b: Bulletin, lang: str, link: str | None) -> str:
    """One bulletin in one line: priority, number (linked), title, source."""
    title = b.title if len(b.title) <= 150 else b.title[:149] + "…"
    icon, source = PRIORITY_ICONS.get(b.priority, ""), source_label(b.source, lang)
    plain_number = SafeHTML(t("crisis.digest_number", lang, number=b.id))
    number = SafeHTML(t("crisis.digest_number_link", lang, url=link, number=b.id)) if link else plain_number
    line = t("crisis.digest_item", lang, icon=icon, number=number, title=title, source=source)
    if utf16_len(line) > ITEM_MAX:  # only a pathological link gets here: drop it rather than cut HTML
        line = t("crisis.digest_item", lang, icon=icon, number=plain_number, title=title[:80], source=source)
    if b.status == "replaced" and b.replaced_by_id:
        line += t("crisis.digest_item_replaced", lang, number=b.replaced_by_id)
    return line


def pack(sections: Sequence[tuple[str, str, Sequence[str]]], budget: int) -> list[list[str]]:
    """Lines grouped into messages of at most `budget` UTF-16 units, never cutting an item.

    `sections` are (heading, heading when continued, item lines); a category that runs over
    into the next message starts it again with its "continued" heading.
    """
    parts: list[list[str]] = []
    lines: list[str] = []
    size = 0
    for heading, continued, items in sections:
        shown = False  # heading already printed in the current message
        started = False  # heading printed in any message
        for item in items:
            block = [item] if shown else ["", continued if started else heading, item]
            block_size = sum(utf16_len(line) + 1 for line in block)
            if lines and size + block_size > budget:
                parts.append(lines)
                lines, size = [], 0
                block = ["", continued if started else heading, item]
                block_size = sum(utf16_len(line) + 1 for line in block)
            lines.extend(block)
            size += block_size
            shown = started = True
    if lines:
        parts.append(lines)
    return parts


def digest_messages(
    bulletins: Sequence[Bulletin],
    lang: str,
    links: dict[int, str],
    *,
    header: Callable[[int, int], str],
    footer: str = "",
) -> list[str]:
    """The digest as ready-to-send HTML messages, grouped by category."""
    by_category: dict[str, list[Bulletin]] = defaultdict(list)
    for b in bulletins:
        by_category[b.category].append(b)
    sections = []
    for category in (*store.CATEGORIES, *sorted(set(by_category) - set(store.CATEGORIES))):
        items = by_category.get(category)
        if not items:
            continue
        label = category_label(category, lang)
        sections.append(
            (
                t("crisis.digest_category", lang, category=label, n=len(items)),
                t("crisis.digest_category_continued", lang, category=label),
                [item_line(b, lang, links.get(b.id)) for b in items],
            )
        )
    reserve = max(utf16_len(header(99, 99)), 200) + utf16_len(footer) + 4
    parts = pack(sections, TEXT_LIMIT - SAFETY - reserve)
    total = len(parts)
    texts = []
    for index, lines in enumerate(parts, start=1):
        text = header(index, total) + "\n" + "\n".join(lines)
        if footer and index == total:
            text += "\n\n" + footer
        texts.append(text)
    return texts


def bulletin_links(bulletins: Sequence[Bulletin], posts: dict[int, int], channel: int | None) -> dict[int, str]:
    """Each bulletin's channel post, or else its first own link."""
    links = {}
    for b in bulletins:
        link = channel_link(channel, posts.get(b.id)) or (b.links[0] if b.links else None)
        if link:
            links[b.id] = link
    return links


# -- the job ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DigestResult:
    run_id: int
    bulletins: int
    channel_messages: int
    private_messages: int


async def run_digest(services: Services, now: datetime | None = None, bot: Bot | None = None) -> DigestResult | None:
    """Post the digest of the latest slot if nobody did yet; None when already done or unscheduled."""
    now = now or utcnow()
    settings = services.settings
    async with services.db.begin() as session:
        channel = await channel_chat_id(session, services, bot)  # an "@name" is asked to Telegram once per process
        mode = await store.crisis_mode(session)
        try:
            slot = latest_slot(schedule_for(services, mode["on"]), now, services.tz)
        except ValueError as exc:
            log.error("DIGEST_* schedule: %s", exc)
            return None
        if slot is None:
            return None
        done_up_to = await store.latest_run_slot(session, "digest")
        if done_up_to is not None and done_up_to >= slot:  # e.g. back to weekly after crisis-mode digests
            return None
        run = await store.claim_run(session, kind="digest", period_key=slot.isoformat(), slot_at=slot, now=now)
        if run is None:
            return None
        since = await store.previous_slot(session, "digest", slot) or slot - timedelta(days=7)
        bulletins = await store.published_between(session, since, slot)
        run.since_at, run.items = since, len(bulletins)
        if not bulletins:
            return DigestResult(run.id, 0, 0, 0)
        posts = await store.channel_posts(session, [b.id for b in bulletins], channel) if channel is not None else {}
        links = bulletin_links(bulletins, posts, channel)
        day = format_date(slot.astimezone(services.tz).date(), "EEEE d MMMM", locale=settings.default_locale)
        channel_count = 0
        if channel is not None:
            lang = settings.default_locale
            count = tn("crisis.bulletins", len(bulletins), lang)
            texts = digest_messages(
                bulletins,
                lang,
                links,
                header=lambda i, n: t("crisis.digest_header", lang, day=day, bulletins=count, part=i, parts=n),
            )
            rows = [
                {"purpose": f"digest:{run.id}:channel:{i}", "chat_id": channel, "payload": message_payload(text)}
                for i, text in enumerate(texts, start=1)
            ]
            await outbox.enqueue_many(session, rows, priority=outbox.NORMAL)
            channel_count = len(rows)
        private_count = await _queue_personal(session, services, run.id, bulletins, links, slot, now)
    services.wake_outbox()
    return DigestResult(run.id, len(bulletins), channel_count, private_count)


async def _queue_personal(
    session: AsyncSession,
    services: Services,
    run_id: int,
    bulletins: Sequence[Bulletin],
    links: dict[int, str],
    slot: datetime,
    now: datetime,
) -> int:
    """Each professional's own digest: their categories, bulletins addressed to them."""
    readers, outs = await store.digest_readers(session)
    audiences: dict[str, set[int]] = {}
    for b in bulletins:
        key = json.dumps(b.audience or {}, sort_keys=True)
        if key not in audiences:
            audiences[key] = set(await store.audience_user_ids(session, b.audience or {}))
    visible_for: dict[tuple[str, tuple[int, ...]], list[int]] = defaultdict(list)
    default_lang = services.settings.default_locale
    for uid, lang in readers.items():
        mine = tuple(
            b.id
            for b in bulletins
            if b.category not in outs.get(uid, ()) and uid in audiences[json.dumps(b.audience or {}, sort_keys=True)]
        )
        if mine:
            visible_for[(lang or default_lang, mine)].append(uid)
    by_id = {b.id: b for b in bulletins}
    rows = []
    for (lang, ids), users in visible_for.items():
        day = format_date(slot.astimezone(services.tz).date(), "EEEE d MMMM", locale=lang)
        chosen = [by_id[i] for i in ids]

        def header(part: int, parts: int, lang: str = lang, day: str = day, count: int = len(chosen)) -> str:
            bulletins = tn("crisis.bulletins", count, lang)
            return t("crisis.digest_personal_header", lang, day=day, bulletins=bulletins, part=part, parts=parts)

        texts = digest_messages(chosen, lang, links, header=header, footer=t("crisis.digest_personal_footer", lang))
        payloads = [message_payload(text) for text in texts]
        for uid in users:
            for i, payload in enumerate(payloads, start=1):
                rows.append({"purpose": f"digest:{run_id}:{i}", "chat_id": uid, "user_id": uid, "payload": payload})
    await outbox.enqueue_many(session, rows, priority=outbox.ROUTINE, not_after=now + timedelta(hours=12))
    return len(rows)


async def run_kit(services: Services, now: datetime | None = None) -> bool:
    """Send the printable crisis kit on its schedule (DIGEST_KIT_SCHEDULE; off when empty)."""
    raw = services.settings.extra.get("DIGEST_KIT_SCHEDULE", "")
    if not raw.strip():
        return False
    now = now or utcnow()
    try:
        slot = latest_slot(parse_schedule(raw), now, services.tz)
    except ValueError as exc:
        log.error("DIGEST_KIT_SCHEDULE: %s", exc)
        return False
    if slot is None:
        return False
    key, lang = slot.isoformat(), services.settings.default_locale
    async with services.db.begin() as session:  # short: read, then render with no transaction open
        if await store.run_exists(session, kind="kit", period_key=key):
            return False
        data = await gather(session, services, now=now, lang=lang)
    pdf = await asyncio.to_thread(render, data, lang)
    spec = file_param(pdf, kit_filename(now, services.tz), "application/pdf")
    async with services.db.begin() as session:
        run = await store.claim_run(session, kind="kit", period_key=key, slot_at=slot, now=now)
        if run is None:  # another process was quicker
            return False
        payload = {"document": spec, "caption": t("crisis.kit_caption_scheduled", lang), "parse_mode": "HTML"}
        rows = [
            {"purpose": f"kit:{run.id}", "chat_id": chat, "payload": payload}
            for chat in await cell_targets(session, services)
        ]
        await outbox.enqueue_many(session, rows, method="sendDocument", priority=outbox.NORMAL, mentions=data.people)
        run.items = len(rows)
    services.wake_outbox()
    return True


async def run_scheduled(services: Services, bot: Bot | None = None, now: datetime | None = None) -> None:
    """The minute job: digest, scheduled kit, any replaced channel post left to edit, and
    field reports that never reached the crisis cell (it had no member or chat yet)."""
    await run_digest(services, now, bot)
    await run_kit(services, now)
    if await fix_channel_edits(services):
        services.wake_outbox()
    async with services.db.begin() as session:
        await deliver_waiting_reports(session, services)


async def crisis_digests_job(application: Application) -> None:
    """The minute job: crisis digests and the scheduled kit, once per slot; replaced channel posts."""
    await run_scheduled(application.bot_data["services"], application.bot)
