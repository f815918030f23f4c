"""Bulletins of the crisis cell: /bulletin (guided), acknowledgements, /suivi, /relancer.

Every bulletin goes to the one crisis channel through the outbox. An urgent one is also sent
privately to each professional of its audience, ahead of anything routine (priority URGENT),
with "Bien reçu" / "Non concerné" buttons; the cell follows the answers live and re-notifies
the silent ones now or after a delay. A bulletin may replace an earlier one: once both posts
exist, the old post is edited to point to the new (see `queue_channel_edit`).

Buttons: "cb:<step>:<value>" (the /bulletin conversation), "ca:ok|no:<bulletin>" (answers),
"cv:ref|now|in:<bulletin>:<minutes>" (/suivi). Every press is checked again on the server.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot import outbox as dispatcher
from bot.i18n import t
from bot.services import Services
from handlers import dialog
from handlers.common import Ctx, callback_parts, handler, int_or_none
from handlers.crisis import (
    ack_keyboard,
    attachment_payload,
    audience_label,
    bulletin_text,
    category_label,
    channel_chat_id,
    channel_link,
    keyboard_rows,
    priority_label,
    require_cell,
    source_label,
    urgent_text,
)
from storage import crisis as store
from storage import dialogs, outbox
from storage import users as users_store
from storage.crisis_models import Bulletin
from storage.models import Dialog, OutboxMessage
from storage.users import PROFESSIONS

FLOW = "bulletin"
TITLE_MAX = 120
BODY_MAX = 1500
LINKS_MAX = 5
MAX_DELAY_MINUTES = 7 * 24 * 60
SKIP_WORDS = {"non", "aucun", "aucune", "passer", "rien", "-", "no", "none", "skip"}
_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)


# -- the guided conversation -------------------------------------------------------------------
@handler
async def on_bulletin(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/bulletin: category, source, priority, title, text, links, file, replaces, audience, preview."""
    if not require_cell(ctx):
        return
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "category", {})
    ctx.say("crisis.b_intro")
    ctx.send(ctx.t("crisis.b_ask_category"), category_keyboard(ctx))


def category_keyboard(ctx: Ctx, prefix: str = "cb:cat") -> list[list[tuple[str, str]]]:
    rows = keyboard_rows([(category_label(c, ctx.lang), f"{prefix}:{c}") for c in store.CATEGORIES])
    rows.append([(ctx.t("common.cancel"), f"{prefix.split(':')[0]}:no:0")])
    return rows


def source_keyboard(ctx: Ctx) -> list[list[tuple[str, str]]]:
    return keyboard_rows([(source_label(s, ctx.lang), f"cb:src:{s}") for s in store.SOURCES], 4)


def priority_keyboard(ctx: Ctx) -> list[list[tuple[str, str]]]:
    return [[(ctx.t(f"crisis.b_priority_button.{p}"), f"cb:pri:{p}")] for p in store.PRIORITIES]


async def replaces_keyboard(ctx: Ctx) -> list[list[tuple[str, str]]]:
    rows = [[(f"n° {b.id} · {b.title[:40]}", f"cb:rep:{b.id}")] for b in await store.in_force(ctx.session, limit=8)]
    rows.append([(ctx.t("crisis.b_replaces_none"), "cb:rep:0")])
    return rows


def audience_keyboard(ctx: Ctx) -> list[list[tuple[str, str]]]:
    return [
        [(ctx.t("crisis.b_audience_all"), "cb:aud:all")],
        [(ctx.t("crisis.b_audience_professions"), "cb:aud:prof"), (ctx.t("crisis.b_audience_groups"), "cb:aud:grp")],
    ]


def professions_keyboard(ctx: Ctx, chosen: set[str]) -> list[list[tuple[str, str]]]:
    buttons = [(("✅ " if p in chosen else "▫️ ") + ctx.t(f"profession.{p}"), f"cb:ap:{p}") for p in PROFESSIONS]
    return [*keyboard_rows(buttons), [(ctx.t("crisis.b_audience_done"), "cb:aok:0")]]


async def groups_keyboard(ctx: Ctx, chosen: set[int]) -> list[list[tuple[str, str]]]:
    rows = [[(("✅ " if g.id in chosen else "▫️ ") + g.name[:50], f"cb:ag:{g.id}")] for g in await users_store.list_groups(ctx.session)]
    rows.append([(ctx.t("crisis.b_audience_done"), "cb:aok:0")])
    return rows


def draft_from(data: dict[str, Any]) -> store.BulletinDraft:
    return store.BulletinDraft(
        category=data["category"],
        source=data["source"],
        priority=data["priority"],
        title=data["title"],
        body=data.get("body", ""),
        links=list(data.get("links") or []),
        audience=data.get("audience") or {"kind": "all"},
        attachment_file_id=data.get("file_id"),
        attachment_kind=data.get("file_kind"),
        replaces_id=data.get("replaces") or None,
    )


async def show_preview(ctx: Ctx, dialog_row: Dialog, *, edit: bool) -> None:
    data = dialog_row.data
    draft = draft_from(data)
    preview = Bulletin(
        id=0,
        category=draft.category,
        source=draft.source,
        priority=draft.priority,
        title=draft.title,
        body=draft.body,
        links=draft.links,
        attachment_file_id=draft.attachment_file_id,
        replaces_id=draft.replaces_id,
    )
    size = await store.audience_size(ctx.session, draft.audience)
    who = await audience_label(ctx.session, draft.audience, ctx.lang)
    key = "crisis.b_preview_urgent" if draft.priority == "urgent" else "crisis.b_preview_digest"
    text = "\n\n".join(
        [ctx.t("crisis.b_preview_head"), bulletin_text(preview, ctx.lang, number=ctx.t("crisis.b_new_number")), ctx.tn(key, size, audience=who)]
    )
    if ctx.services.settings.crisis_channel_id is None:
        text += "\n\n" + ctx.t("crisis.b_no_channel")
    keyboard = [[(ctx.t("crisis.b_publish"), "cb:pub:0"), (ctx.t("common.cancel"), "cb:no:0")]]
    dialogs.advance(dialog_row, "preview")
    (ctx.edit if edit else ctx.send)(text, keyboard)


async def step_title(ctx: Ctx, dialog_row: Dialog, text: str) -> None:
    title = " ".join(text.split())
    if not 3 <= len(title) <= TITLE_MAX:
        ctx.say("crisis.b_title_length", max=TITLE_MAX)
        return
    dialogs.advance(dialog_row, "body", title=title)
    ctx.say("crisis.b_ask_body", max=BODY_MAX)


async def step_body(ctx: Ctx, dialog_row: Dialog, text: str) -> None:
    body = text.strip()
    if not body or len(body) > BODY_MAX:
        ctx.say("crisis.b_body_length", max=BODY_MAX)
        return
    dialogs.advance(dialog_row, "links", body=body)
    ctx.say("crisis.b_ask_links", [[(ctx.t("crisis.b_no_links"), "cb:skip:links")]], max=LINKS_MAX)


def parse_links(text: str) -> list[str] | None:
    """The http(s) addresses in `text` (None when there is text but no address)."""
    if dialog.normalized(text) in SKIP_WORDS:
        return []
    links = [url.rstrip(".,;)") for url in _URL.findall(text)]
    return links[:LINKS_MAX] if links else None


async def step_links(ctx: Ctx, dialog_row: Dialog, text: str) -> None:
    links = parse_links(text)
    if links is None:
        ctx.say("crisis.b_links_invalid", [[(ctx.t("crisis.b_no_links"), "cb:skip:links")]])
        return
    await ask_file(ctx, dialog_row, links=links)


async def ask_file(ctx: Ctx, dialog_row: Dialog, **changes: Any) -> None:
    dialogs.advance(dialog_row, "file", **changes)
    ctx.say("crisis.b_ask_file", [[(ctx.t("crisis.b_no_file"), "cb:skip:file")]])


async def step_file(ctx: Ctx, dialog_row: Dialog, text: str) -> None:
    if dialog.normalized(text) in SKIP_WORDS:
        await ask_replaces(ctx, dialog_row)
        return
    ctx.say("crisis.b_file_expected", [[(ctx.t("crisis.b_no_file"), "cb:skip:file")]])


async def ask_replaces(ctx: Ctx, dialog_row: Dialog, **changes: Any) -> None:
    dialogs.advance(dialog_row, "replaces", **changes)
    ctx.send(ctx.t("crisis.b_ask_replaces"), await replaces_keyboard(ctx))


async def step_replaces(ctx: Ctx, dialog_row: Dialog, text: str) -> None:
    """Typed answer: "12", "n° 12", "remplace le 12", or "non"."""
    if dialog.normalized(text) in SKIP_WORDS:
        await ask_audience(ctx, dialog_row, replaces=None)
        return
    digits = re.findall(r"\d+", text)
    number = int(digits[0]) if len(digits) == 1 else None
    old = await store.get_bulletin(ctx.session, number) if number else None
    if old is None or old.status != "published":
        ctx.send(ctx.t("crisis.b_replaces_unknown"), await replaces_keyboard(ctx))
        return
    await ask_audience(ctx, dialog_row, replaces=old.id)


async def ask_audience(ctx: Ctx, dialog_row: Dialog, *, edit: bool = False, **changes: Any) -> None:
    dialogs.advance(dialog_row, "audience", **changes)
    (ctx.edit if edit else ctx.send)(ctx.t("crisis.b_ask_audience"), audience_keyboard(ctx))


dialog.flow(FLOW, {"title": step_title, "body": step_body, "links": step_links, "file": step_file, "replaces": step_replaces})


async def on_bulletin_file(ctx: Ctx, dialog_row: Dialog, file_id: str, kind: str) -> None:
    """A document or photo sent at the attachment step (routed by handlers/reports.on_attachment)."""
    if dialog_row.step != "file":
        ctx.say("dialog.use_buttons")
        return
    ctx.say("crisis.b_file_saved")
    await ask_replaces(ctx, dialog_row, file_id=file_id, file_kind=kind)


@handler
async def on_bulletin_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons cb:<action>:<value> of the /bulletin conversation (crisis cell only)."""
    if not require_cell(ctx):
        return
    parts = callback_parts(update, 3)
    if parts is None:
        ctx.answer(ctx.t("common.stale_button"))
        return
    _, action, value = parts
    row = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if row is None or row.flow != FLOW:
        ctx.answer(ctx.t("common.stale_button"))
        return
    if action == "no":
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.edit(ctx.t("crisis.b_cancelled"))
        return
    expected = {
        "cat": "category", "src": "source", "pri": "priority", "skip": None, "rep": "replaces",
        "aud": "audience", "ap": "professions", "ag": "groups", "aok": None, "pub": "preview",
    }  # fmt: skip
    if action not in expected or (expected[action] is not None and row.step != expected[action]):
        ctx.answer(ctx.t("common.stale_button"))
        return
    if action == "cat" and value in store.CATEGORIES:
        dialogs.advance(row, "source", category=value)
        ctx.edit(ctx.t("crisis.b_ask_source", category=category_label(value, ctx.lang)), source_keyboard(ctx))
    elif action == "src" and value in store.SOURCES:
        dialogs.advance(row, "priority", source=value)
        ctx.edit(ctx.t("crisis.b_ask_priority"), priority_keyboard(ctx))
    elif action == "pri" and value in store.PRIORITIES:
        dialogs.advance(row, "title", priority=value)
        ctx.edit(ctx.t("crisis.b_ask_title", priority=priority_label(value, ctx.lang), max=TITLE_MAX))
    elif action == "skip" and value == "links" and row.step == "links":
        ctx.edit(ctx.t("crisis.b_links_none"))
        await ask_file(ctx, row, links=[])
    elif action == "skip" and value == "file" and row.step == "file":
        ctx.edit(ctx.t("crisis.b_file_none"))
        await ask_replaces(ctx, row, file_id=None, file_kind=None)
    elif action == "rep":
        await choose_replaced(ctx, row, int_or_none(value))
    elif action == "aud" and value == "all":
        dialogs.advance(row, "audience", audience={"kind": "all"})
        await show_preview(ctx, row, edit=True)
    elif action == "aud" and value == "prof":
        dialogs.advance(row, "professions", audience={"kind": "professions", "values": []})
        ctx.edit(ctx.t("crisis.b_ask_professions"), professions_keyboard(ctx, set()))
    elif action == "aud" and value == "grp":
        dialogs.advance(row, "groups", audience={"kind": "groups", "values": []})
        ctx.edit(ctx.t("crisis.b_ask_groups"), await groups_keyboard(ctx, set()))
    elif action == "ap" and value in PROFESSIONS:
        chosen = set(row.data["audience"]["values"]) ^ {value}
        dialogs.advance(row, "professions", audience={"kind": "professions", "values": sorted(chosen)})
        ctx.edit(ctx.t("crisis.b_ask_professions"), professions_keyboard(ctx, chosen))
    elif action == "ag" and int_or_none(value) in {g.id for g in await users_store.list_groups(ctx.session)}:
        chosen = set(row.data["audience"]["values"]) ^ {int(value)}
        dialogs.advance(row, "groups", audience={"kind": "groups", "values": sorted(chosen)})
        ctx.edit(ctx.t("crisis.b_ask_groups"), await groups_keyboard(ctx, chosen))
    elif action == "aok" and row.step in ("professions", "groups"):
        if not row.data["audience"]["values"]:
            ctx.answer(ctx.t("crisis.b_audience_pick_one"), alert=True)
            return
        await show_preview(ctx, row, edit=True)
    elif action == "pub":
        await publish(ctx, row, await channel_chat_id(ctx.services, context.bot))
    else:
        ctx.answer(ctx.t("common.stale_button"))


async def choose_replaced(ctx: Ctx, row: Dialog, number: int | None) -> None:
    if number is None:
        ctx.answer(ctx.t("common.stale_button"))
        return
    if number:
        old = await store.get_bulletin(ctx.session, number)
        if old is None or old.status != "published":
            ctx.answer(ctx.t("crisis.b_replaces_unknown"), alert=True)
            return
    await ask_audience(ctx, row, edit=True, replaces=number or None)


# -- publishing ---------------------------------------------------------------------------------
async def publish(ctx: Ctx, row: Dialog, channel: int | None) -> None:
    """Store the bulletin, queue its channel post (and file), and the urgent private sends."""
    draft = draft_from(row.data)
    settings = ctx.services.settings
    bulletin = await store.create_bulletin(ctx.session, draft, created_by=ctx.user.id, now=ctx.now)
    bulletin.lang = settings.default_locale
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    await queue_channel_post(ctx.session, bulletin, channel)
    sent_to = 0
    if bulletin.priority == "urgent":
        send = await outbox.new_send(ctx.session, kind="bulletin", label=f"n° {bulletin.id} {bulletin.title}", created_by=ctx.user.id)
        bulletin.send_id = send.id
        sent_to = await notify.notify(
            ctx.session,
            await store.audience_user_ids(ctx.session, bulletin.audience),
            purpose=store.urgent_purpose(bulletin.id),
            render=lambda lang: (urgent_text(bulletin, lang), ack_keyboard(bulletin.id, lang)),
            default_lang=settings.default_locale,
            priority=outbox.URGENT,
            send_id=send.id,
        )
    if bulletin.replaces_id:
        old = await store.get_bulletin(ctx.session, bulletin.replaces_id)
        if old is not None:
            await queue_channel_edit(ctx.session, old)
    ctx.wake_outbox = True
    lines = [ctx.t("crisis.b_published", number=bulletin.id)]
    if bulletin.priority == "urgent":
        lines.append(ctx.tn("crisis.b_published_urgent", sent_to, number=bulletin.id))
    else:
        lines.append(ctx.t("crisis.b_published_digest"))
    if bulletin.replaces_id:
        lines.append(ctx.t("crisis.b_published_replaces", number=bulletin.replaces_id))
    ctx.edit("\n".join(lines))


async def queue_channel_post(session: AsyncSession, bulletin: Bulletin, channel: int | None) -> None:
    if channel is None:
        return
    priority = outbox.URGENT if bulletin.priority == "urgent" else outbox.HIGH
    payload = notify.message_payload(bulletin_text(bulletin, bulletin.lang))
    await outbox.enqueue(session, purpose=store.channel_purpose(bulletin.id), chat_id=channel, payload=payload, priority=priority)
    if bulletin.attachment_file_id:
        method, file_payload = attachment_payload(
            bulletin.attachment_kind, bulletin.attachment_file_id, t("crisis.post_attachment_caption", bulletin.lang, number=bulletin.id, title=bulletin.title)
        )
        await outbox.enqueue(session, purpose=store.channel_file_purpose(bulletin.id), chat_id=channel, payload=file_payload, method=method, priority=priority)


async def _post(session: AsyncSession, bulletin_id: int) -> OutboxMessage | None:
    return await session.scalar(select(OutboxMessage).where(OutboxMessage.purpose == store.channel_purpose(bulletin_id)))


async def queue_channel_edit(session: AsyncSession, old: Bulletin) -> bool:
    """Edit a replaced bulletin's channel post to point to its successor, once both are posted.

    Returns True when the edit was queued (or is not needed); False to try again later (a post
    still waiting in the outbox). Called right after publishing, when a channel post is sent
    (outbox on-sent hook) and by the minute job as a safety net.
    """
    if old.status != "replaced" or old.channel_edit_done or old.replaced_by_id is None:
        return True
    post = await _post(session, old.id)
    if post is None or post.status not in ("pending", "sent"):
        old.channel_edit_done = True  # never posted (no channel then): nothing to edit
        return True
    if post.status == "pending" or post.message_id is None:
        return False
    successor = await _post(session, old.replaced_by_id)
    if successor is not None and successor.status == "pending":
        return False
    link = channel_link(post.chat_id, successor.message_id) if successor is not None and successor.status == "sent" else None
    text = bulletin_text(old, old.lang, replaced_by=old.replaced_by_id, replaced_link=link)
    payload = notify.message_payload(text)
    payload["message_id"] = post.message_id
    await outbox.enqueue(
        session, purpose=f"bulletin:{old.id}:replaced", chat_id=post.chat_id, payload=payload, method="editMessageText", priority=outbox.HIGH
    )
    old.channel_edit_done = True
    return True


async def after_channel_post(session: AsyncSession, row_id: int) -> None:
    """A bulletin's channel post just went out: its replacement edit may now be due."""
    purpose = await session.scalar(select(OutboxMessage.purpose).where(OutboxMessage.id == row_id))
    if not purpose or not purpose.startswith("bulletin:") or not purpose.endswith(":channel"):
        return
    bulletin = await store.get_bulletin(session, int(purpose.split(":")[1]))
    if bulletin is None:
        return
    for candidate_id in (bulletin.id, bulletin.replaces_id):
        candidate = await store.get_bulletin(session, candidate_id) if candidate_id else None
        if candidate is not None and candidate.status == "replaced" and not candidate.channel_edit_done:
            await queue_channel_edit(session, candidate)


def install_sent_hook() -> None:
    """Chain our hook onto the dispatcher's "sendMessage" hook (private sends return at once)."""
    previous = dispatcher.ON_SENT.get("sendMessage")
    if getattr(previous, "crisis_hook", False):
        return

    async def on_message_sent(session: AsyncSession, row_id: int, chat_id: int, result: Any) -> None:
        if previous is not None:
            await previous(session, row_id, chat_id, result)
        if chat_id < 0:  # a channel or group: maybe a bulletin's channel post
            await after_channel_post(session, row_id)

    on_message_sent.crisis_hook = True  # type: ignore[attr-defined]
    dispatcher.ON_SENT["sendMessage"] = on_message_sent


install_sent_hook()


async def fix_channel_edits(services: Services) -> int:
    """Queue every replacement edit still missing (the minute job's safety net)."""
    queued = 0
    async with services.db.begin() as session:
        for old in await store.replaced_awaiting_edit(session):
            if await queue_channel_edit(session, old):
                queued += 1
    return queued


# -- answers to urgent bulletins ----------------------------------------------------------------
@handler
async def on_answer_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons ca:ok|no:<bulletin>: "Bien reçu" / "Non concerné" (recipients only)."""
    parts = callback_parts(update, 3)
    bulletin_id = int_or_none(parts[2]) if parts else None
    if parts is None or parts[1] not in ("ok", "no") or bulletin_id is None:
        ctx.answer(ctx.t("common.stale_button"))
        return
    bulletin = await store.get_bulletin(ctx.session, bulletin_id)
    if bulletin is None or not await store.was_recipient(ctx.session, bulletin_id, ctx.user.id):
        ctx.refuse("crisis.answer_not_for_you")
        return
    answer = "ack" if parts[1] == "ok" else "not_concerned"
    await store.record_answer(ctx.session, bulletin, ctx.user.id, answer, now=ctx.now)
    ctx.answer(ctx.t(f"crisis.answer_toast_{answer}"))
    ctx.edit(urgent_text(bulletin, ctx.lang, answer=answer))


# -- follow-up and escalation -------------------------------------------------------------------
async def tracked_bulletin(ctx: Ctx, raw: str | None) -> Bulletin | None:
    """The urgent bulletin named by `raw` (or the latest one); says why when there is none."""
    if raw:
        number = int_or_none(raw.lstrip("n°#").strip())
        bulletin = await store.get_bulletin(ctx.session, number) if number else None
    else:
        bulletin = await store.latest_urgent(ctx.session)
    if bulletin is None:
        ctx.say("crisis.track_unknown" if raw else "crisis.track_none")
        return None
    if bulletin.priority != "urgent":
        ctx.say("crisis.track_not_urgent", number=bulletin.id)
        return None
    return bulletin


async def tracking_view(ctx: Ctx, bulletin: Bulletin) -> tuple[str, list[list[tuple[str, str]]]]:
    """/suivi's live counts and buttons."""
    tr = await store.tracking(ctx.session, bulletin)
    lines = [
        ctx.t("crisis.track_head", number=bulletin.id, title=bulletin.title),
        ctx.t(
            "crisis.track_counts",
            audience=tr.audience,
            delivered=tr.delivered,
            pending=tr.pending,
            ack=tr.acknowledged,
            not_concerned=tr.not_concerned,
            no_answer=tr.no_answer,
            unreachable=tr.unreachable,
        ),
    ]
    tz = ctx.services.tz
    for rnd in tr.escalations:
        due = rnd.due_at.astimezone(tz).strftime("%H:%M")
        if rnd.counts.get("pending") and rnd.due_at > ctx.now:
            lines.append(ctx.tn("crisis.track_escalation_planned", rnd.total, round=rnd.number, time=due))
        else:
            lines.append(ctx.tn("crisis.track_escalation_done", rnd.total, round=rnd.number, time=due, sent=rnd.counts.get("sent", 0)))
    stamp = ctx.now.astimezone(tz).strftime("%H:%M:%S")
    lines.append(ctx.t("crisis.track_updated", time=stamp))
    keyboard = [
        [(ctx.t("crisis.track_refresh"), f"cv:ref:{bulletin.id}:0")],
        [(ctx.t("crisis.track_escalate_now"), f"cv:now:{bulletin.id}:0")],
        [
            (ctx.t("crisis.track_escalate_in", minutes=30), f"cv:in:{bulletin.id}:30"),
            (ctx.t("crisis.track_escalate_in_hours", hours=2), f"cv:in:{bulletin.id}:120"),
        ],
    ]
    return "\n".join(lines), keyboard


@handler
async def on_track(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/suivi [n]: delivered, acknowledged, silent, unreachable — with refresh and escalation."""
    if not require_cell(ctx):
        return
    bulletin = await tracked_bulletin(ctx, context.args[0] if context.args else None)
    if bulletin is None:
        return
    text, keyboard = await tracking_view(ctx, bulletin)
    ctx.send(text, keyboard)


async def escalate(ctx: Ctx, bulletin: Bulletin, minutes: int) -> int:
    """Re-notify those who have not answered, now or in `minutes` (skipped for whoever answers meanwhile)."""
    targets = await store.unanswered_recipients(ctx.session, bulletin.id, include_pending=minutes > 0)
    if not targets:
        return 0
    number = await store.next_escalation_round(ctx.session, bulletin.id)
    count = await notify.notify(
        ctx.session,
        targets,
        purpose=f"{store.relance_prefix(bulletin.id)}{number}",
        render=lambda lang: (urgent_text(bulletin, lang, reminder=True), ack_keyboard(bulletin.id, lang)),
        default_lang=ctx.services.settings.default_locale,
        priority=outbox.URGENT,
        due_at=ctx.now + timedelta(minutes=minutes),
    )
    ctx.wake_outbox = True
    return count


async def say_escalated(ctx: Ctx, bulletin: Bulletin, minutes: int, count: int) -> None:
    if count == 0:
        ctx.say("crisis.escalate_nobody", number=bulletin.id)
    elif minutes == 0:
        ctx.send(ctx.tn("crisis.escalate_now", count, number=bulletin.id))
    else:
        due = (ctx.now + timedelta(minutes=minutes)).astimezone(ctx.services.tz).strftime("%H:%M")
        ctx.send(ctx.tn("crisis.escalate_later", count, number=bulletin.id, time=due))


@handler
async def on_escalate(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/relancer <n> [minutes]: re-notify the silent recipients now, or after a delay."""
    if not require_cell(ctx):
        return
    args = context.args or []
    minutes = int_or_none(args[1]) if len(args) == 2 else 0
    if not 1 <= len(args) <= 2 or minutes is None or not 0 <= minutes <= MAX_DELAY_MINUTES:
        ctx.say("crisis.escalate_usage")
        return
    bulletin = await tracked_bulletin(ctx, args[0])
    if bulletin is None:
        return
    count = await escalate(ctx, bulletin, minutes)
    await say_escalated(ctx, bulletin, minutes, count)


@handler
async def on_track_button(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Buttons cv:ref|now|in:<bulletin>:<minutes> (crisis cell only)."""
    if not require_cell(ctx):
        return
    parts = callback_parts(update, 4)
    bulletin_id = int_or_none(parts[2]) if parts else None
    minutes = int_or_none(parts[3]) if parts else None
    if parts is None or bulletin_id is None or minutes is None or not 0 <= minutes <= MAX_DELAY_MINUTES:
        ctx.answer(ctx.t("common.stale_button"))
        return
    bulletin = await store.get_bulletin(ctx.session, bulletin_id)
    if bulletin is None or bulletin.priority != "urgent":
        ctx.answer(ctx.t("common.stale_button"))
        return
    if parts[1] in ("now", "in"):
        count = await escalate(ctx, bulletin, minutes if parts[1] == "in" else 0)
        await say_escalated(ctx, bulletin, minutes if parts[1] == "in" else 0, count)
        ctx.answer(ctx.tn("crisis.escalate_toast", count))
    elif parts[1] != "ref":
        ctx.answer(ctx.t("common.stale_button"))
        return
    text, keyboard = await tracking_view(ctx, bulletin)
    ctx.edit(text, keyboard)
