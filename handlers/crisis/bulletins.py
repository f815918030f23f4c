"""Bulletins of the crisis cell: /bulletin (guided), acknowledgements, /suivi, /relancer.

Every bulletin goes to the one crisis channel through the outbox. An urgent one is also sent
privately to each professional of its audience, ahead of anything routine (priority URGENT),
with "Bien reçu" / "Non concerné" buttons; the cell follows the answers live and re-notifies
the silent ones now or after a delay. A bulletin may replace an earlier one: once both posts
exist, the old post is edited to point to the new (see `queue_channel_edit`).

A post the channel refuses (the bot removed from it, a wrong id) is never reported as
published: the crisis cell is told at once (an outbox failure hook), /suivi and /envois show the
post's state, and the same outbox row is sent again, once, when the bot is back in the channel
(handlers/account/chats.py) or when the cell presses "Republier".

Buttons: "cb:<step>:<value>" (the /bulletin conversation), "ca:ok|no:<bulletin>" (answers),
"cv:ref|now|in|rep:<bulletin>:<minutes>" (/suivi). Every press is checked again on the server.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import chats, notify
from bot.chats import configured_value
from bot.dates import format_time
from bot.i18n import SafeHTML, t
from bot.outbox import Failure
from bot.services import Services
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonRouter
from handlers.core.common import Ctx, handler, int_or_none
from handlers.crisis.shared import (
    ack_keyboard,
    attachment_payload,
    audience_label,
    bulletin_text,
    category_label,
    cell_chat_id,
    channel_chat_id,
    channel_link,
    keyboard_rows,
    priority_label,
    refusal_reason,
    require_cell,
    source_label,
    tell_cell,
    urgent_text,
)
from storage import crisis as store
from storage import dialogs, outbox
from storage import users as users_store
from storage.crisis_models import Bulletin
from storage.models import Dialog, OutboxMessage
from storage.users import PROFESSIONS

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

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
    rows = [
        [(("✅ " if g.id in chosen else "▫️ ") + g.name[:50], f"cb:ag:{g.id}")]
        for g in await users_store.list_groups(ctx.session)
    ]
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
        [
            ctx.t("crisis.b_preview_head"),
            bulletin_text(preview, ctx.lang, number=ctx.t("crisis.b_new_number")),
            ctx.tn(key, size, audience=who),
        ]
    )
    if configured_value(ctx.services.settings, chats.CHANNEL) is None:
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


async def on_bulletin_file(ctx: Ctx, dialog_row: Dialog, file_id: str, kind: str) -> None:
    """A document or photo sent at the attachment step (routed by handlers/reports.on_attachment)."""
    if dialog_row.step != "file":
        ctx.say("dialog.use_buttons")
        return
    ctx.say("crisis.b_file_saved")
    await ask_replaces(ctx, dialog_row, file_id=file_id, file_kind=kind)


async def pressed_no(ctx: Ctx, row: Dialog, button: Button) -> None:
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.edit(ctx.t("crisis.b_cancelled"))


async def pressed_category(ctx: Ctx, row: Dialog, button: Button) -> None:
    value = button.choice(0, store.CATEGORIES)
    dialogs.advance(row, "source", category=value)
    ctx.edit(ctx.t("crisis.b_ask_source", category=category_label(value, ctx.lang)), source_keyboard(ctx))


async def pressed_source(ctx: Ctx, row: Dialog, button: Button) -> None:
    dialogs.advance(row, "priority", source=button.choice(0, store.SOURCES))
    ctx.edit(ctx.t("crisis.b_ask_priority"), priority_keyboard(ctx))


async def pressed_priority(ctx: Ctx, row: Dialog, button: Button) -> None:
    value = button.choice(0, store.PRIORITIES)
    dialogs.advance(row, "title", priority=value)
    ctx.edit(ctx.t("crisis.b_ask_title", priority=priority_label(value, ctx.lang), max=TITLE_MAX))


async def pressed_skip(ctx: Ctx, row: Dialog, button: Button) -> None:
    """cb:skip:links|file, at that very step."""
    if button.choice(0, ("links", "file")) != row.step:
        raise BadButton("not at this step of /bulletin")
    if row.step == "links":
        ctx.edit(ctx.t("crisis.b_links_none"))
        await ask_file(ctx, row, links=[])
    else:
        ctx.edit(ctx.t("crisis.b_file_none"))
        await ask_replaces(ctx, row, file_id=None, file_kind=None)


async def pressed_audience(ctx: Ctx, row: Dialog, button: Button) -> None:
    value = button.choice(0, ("all", "prof", "grp"))
    if value == "all":
        dialogs.advance(row, "audience", audience={"kind": "all"})
        await show_preview(ctx, row, edit=True)
    elif value == "prof":
        dialogs.advance(row, "professions", audience={"kind": "professions", "values": []})
        ctx.edit(ctx.t("crisis.b_ask_professions"), professions_keyboard(ctx, set()))
    else:
        dialogs.advance(row, "groups", audience={"kind": "groups", "values": []})
        ctx.edit(ctx.t("crisis.b_ask_groups"), await groups_keyboard(ctx, set()))


async def pressed_profession(ctx: Ctx, row: Dialog, button: Button) -> None:
    chosen = set(row.data["audience"]["values"]) ^ {button.choice(0, PROFESSIONS)}
    dialogs.advance(row, "professions", audience={"kind": "professions", "values": sorted(chosen)})
    ctx.edit(ctx.t("crisis.b_ask_professions"), professions_keyboard(ctx, chosen))


async def pressed_group(ctx: Ctx, row: Dialog, button: Button) -> None:
    group_id = button.int(0)
    if group_id not in {g.id for g in await users_store.list_groups(ctx.session)}:
        raise BadButton("not a group on offer")
    chosen = set(row.data["audience"]["values"]) ^ {group_id}
    dialogs.advance(row, "groups", audience={"kind": "groups", "values": sorted(chosen)})
    ctx.edit(ctx.t("crisis.b_ask_groups"), await groups_keyboard(ctx, chosen))


async def pressed_audience_ok(ctx: Ctx, row: Dialog, button: Button) -> None:
    if row.step not in ("professions", "groups"):
        raise BadButton("not choosing professions or groups")
    if not row.data["audience"]["values"]:
        ctx.answer(ctx.t("crisis.b_audience_pick_one"), alert=True)
        return
    await show_preview(ctx, row, edit=True)


async def pressed_publish(ctx: Ctx, row: Dialog, button: Button) -> None:
    await publish(ctx, row, await channel_chat_id(ctx.session, ctx.services, button.context.bot))


async def choose_replaced(ctx: Ctx, row: Dialog, number: int | None) -> None:
    if number is None:
        raise BadButton("not a bulletin number")
    if number:
        old = await store.get_bulletin(ctx.session, number)
        if old is None or old.status != "published":
            ctx.answer(ctx.t("crisis.b_replaces_unknown"), alert=True)
            return
    await ask_audience(ctx, row, edit=True, replaces=number or None)


# -- publishing ---------------------------------------------------------------------------------
router.guard("cb", lambda ctx, button: require_cell(ctx))
router.on_step("cb", "no", FLOW, pressed_no)
router.on_step("cb", "cat", FLOW, pressed_category, steps={"category"})
router.on_step("cb", "src", FLOW, pressed_source, steps={"source"})
router.on_step("cb", "pri", FLOW, pressed_priority, steps={"priority"})
router.on_step("cb", "skip", FLOW, pressed_skip)
router.on_step(
    "cb",
    "rep",
    FLOW,
    lambda ctx, row, button: choose_replaced(ctx, row, int_or_none(button.text(0))),
    steps={"replaces"},
)
router.on_step("cb", "aud", FLOW, pressed_audience, steps={"audience"})
router.on_step("cb", "ap", FLOW, pressed_profession, steps={"professions"})
router.on_step("cb", "ag", FLOW, pressed_group, steps={"groups"})
router.on_step("cb", "aok", FLOW, pressed_audience_ok)
router.on_step("cb", "pub", FLOW, pressed_publish, steps={"preview"})


async def publish(ctx: Ctx, row: Dialog, channel: int | None) -> None:
    """Store the bulletin, queue its channel post (and file), and the urgent private sends."""
    draft = draft_from(row.data)
    settings = ctx.services.settings
    bulletin = await store.create_bulletin(ctx.session, draft, created_by=ctx.user.id, now=ctx.now)
    bulletin.lang = settings.default_locale
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    send = await outbox.new_send(
        ctx.session, kind="bulletin", label=f"n° {bulletin.id} {bulletin.title}", created_by=ctx.user.id
    )
    bulletin.send_id = send.id  # its channel post and private sends: /envois counts them together
    await queue_channel_post(ctx.session, bulletin, channel)
    sent_to = 0
    if bulletin.priority == "urgent":
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
    if channel is not None:
        lines = [ctx.t("crisis.b_published", number=bulletin.id)]
    elif configured_value(settings, chats.CHANNEL) is None:
        lines = [ctx.t("crisis.b_published_no_channel", number=bulletin.id)]
    else:
        lines = [
            ctx.t(
                "crisis.b_published_channel_unknown",
                number=bulletin.id,
                channel=str(configured_value(settings, chats.CHANNEL)),
            )
        ]
    if bulletin.priority == "urgent":
        lines.append(ctx.tn("crisis.b_published_urgent", sent_to, number=bulletin.id))
    else:
        lines.append(ctx.t("crisis.b_published_digest"))
    if bulletin.replaces_id:
        key = "crisis.b_published_replaces" if channel is not None else "crisis.b_published_replaces_no_channel"
        lines.append(ctx.t(key, number=bulletin.replaces_id))
    ctx.edit("\n".join(lines))


async def queue_channel_post(session: AsyncSession, bulletin: Bulletin, channel: int | None) -> None:
    if channel is None:
        return
    priority = outbox.URGENT if bulletin.priority == "urgent" else outbox.HIGH
    payload = notify.message_payload(bulletin_text(bulletin, bulletin.lang))
    await outbox.enqueue(
        session,
        purpose=store.channel_purpose(bulletin.id),
        chat_id=channel,
        payload=payload,
        priority=priority,
        send_id=bulletin.send_id,
    )
    if bulletin.attachment_file_id:
        method, file_payload = attachment_payload(
            bulletin.attachment_kind,
            bulletin.attachment_file_id,
            t("crisis.post_attachment_caption", bulletin.lang, number=bulletin.id, title=bulletin.title),
        )
        await outbox.enqueue(
            session,
            purpose=store.channel_file_purpose(bulletin.id),
            chat_id=channel,
            payload=file_payload,
            method=method,
            priority=priority,
            send_id=bulletin.send_id,
        )


MAY_STILL_GO = ("pending", "sending", "refused")  # a channel post that may still appear


async def _post(session: AsyncSession, bulletin_id: int) -> OutboxMessage | None:
    return await session.scalar(
        select(OutboxMessage).where(OutboxMessage.purpose == store.channel_purpose(bulletin_id))
    )


async def queue_channel_edit(session: AsyncSession, old: Bulletin) -> bool:
    """Edit a replaced bulletin's channel post to point to its successor, once both are posted.

    Returns True when the edit was queued (or is not needed); False to try again later (a post
    still waiting in the outbox). Called right after publishing, when a channel post is sent
    (outbox on-sent hook) and by the minute job as a safety net.
    """
    if old.status != "replaced" or old.channel_edit_done or old.replaced_by_id is None:
        return True
    post = await _post(session, old.id)
    if post is None or post.status not in (*MAY_STILL_GO, "failed", "sent"):
        old.channel_edit_done = True  # never posted (no channel then): nothing to edit
        return True
    if post.status != "sent" or post.message_id is None:
        return False  # on its way, or refused until the bot is back (or "Republier")
    successor = await _post(session, old.replaced_by_id)
    if successor is not None and successor.status in MAY_STILL_GO:
        return False
    link = (
        channel_link(post.chat_id, successor.message_id)
        if successor is not None and successor.status == "sent"
        else None
    )
    text = bulletin_text(old, old.lang, replaced_by=old.replaced_by_id, replaced_link=link)
    payload = notify.message_payload(text)
    payload["message_id"] = post.message_id
    await outbox.enqueue(
        session,
        purpose=f"bulletin:{old.id}:replaced",
        chat_id=post.chat_id,
        payload=payload,
        method="editMessageText",
        priority=outbox.HIGH,
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


async def on_message_sent(session: AsyncSession, row_id: int, chat_id: int, result: Any) -> None:
    """After-send hook for every sendMessage: a post to a channel or group may be a bulletin's
    (private sends return at once)."""
    if chat_id < 0:
        await after_channel_post(session, row_id)


# -- what the channel (or the cell's chat) refused ---------------------------------------------------
async def on_crisis_row_failed(session: AsyncSession, failure: Failure, services: Services | None) -> None:
    """Outbox failure hook for crisis messages to a group or channel (bulletins, digests, crisis
    mode, reports, kits), run in the transaction that records the failure.

    Refused by the cell's own chat: the same message goes to each member privately. Refused by
    the channel: the cell is told at once, with "Republier" for a bulletin's post; the row stays
    `refused` and is sent again in place once the bot is back in the channel.
    """
    if services is None or failure.chat_id > 0 or failure.status not in ("refused", "failed"):
        return
    parts = failure.purpose.split(":")
    if failure.chat_id == await cell_chat_id(session, services):
        await reroute_to_members(session, services, failure)
        return
    if parts[0] == "bulletin" and len(parts) == 3 and parts[2] == "channel-file":
        return  # its post's notice says it, and "Republier" sends both
    lang_default = services.settings.default_locale
    number = int_or_none(parts[1]) if parts[0] == "bulletin" and len(parts) == 3 else None
    if number is not None and parts[2] == "channel":
        bulletin = await store.get_bulletin(session, number)
        title = bulletin.title if bulletin is not None else ""

        def render(lang: str) -> tuple[str, notify.Keyboard | None]:
            key = "crisis.channel_refused" if failure.status == "refused" else "crisis.channel_failed"
            text = t(key, lang, number=number, title=title, reason=refusal_reason(failure.error, lang))
            return text, republish_keyboard(number, lang)

        await tell_cell(session, services, purpose=f"bulletin:{number}:refused:{failure.attempts}", render=render)
        return
    if parts[-1].startswith("refused") or (len(parts) > 1 and parts[-2] == "refused"):
        return  # a notice of ours that failed: never a notice about a notice
    await tell_cell(
        session,
        services,
        purpose=f"{failure.purpose}:refused:{failure.attempts}"[:160],
        render=notify.simple("crisis.chat_refused", reason=refusal_reason(failure.error, lang_default)),
    )


async def reroute_to_members(session: AsyncSession, services: Services, failure: Failure) -> int:
    """A message the cell's chat refused goes to each cell member privately, as it was."""
    row = await session.get(OutboxMessage, failure.row_id)
    if row is None:
        return 0
    members = await store.cell_member_ids(session, services.settings.coordinator_ids)
    people = await users_store.reachable_user_ids(session, members)
    rows = [
        {"purpose": row.purpose, "chat_id": uid, "user_id": uid, "payload": dict(row.payload), "method": row.method}
        for uid in people
    ]
    await outbox.enqueue_many(session, rows, priority=outbox.HIGH, send_id=row.send_id)
    if rows:
        services.wake_outbox()
    return len(rows)


CRISIS_PURPOSES = (
    "bulletin",
    "crisis",
    "digest",
    "report",
    "kit",
)  # outbox rows whose failure on_crisis_row_failed hears


def republish_keyboard(bulletin_id: int, lang: str) -> list[list[tuple[str, str]]]:
    return [
        [(t("crisis.republish_button", lang, html=False), f"cv:rep:{bulletin_id}:0")],
        [(t("crisis.track_button", lang, html=False), f"cv:ref:{bulletin_id}:0")],
    ]


async def republish(session: AsyncSession, services: Services, bulletin: Bulletin, bot: Any) -> str:
    """ "Republier": the post (and its file) sent again in place, or queued if it never was.

    Returns what happened: "queued", "posted" (already in the channel), "under_way" or
    "no_channel". The rows go to the channel as it is now (a moved chat, a changed setting).
    """
    channel = await channel_chat_id(session, services, bot)
    rows = await store.channel_rows(session, bulletin.id)
    if not rows:
        if channel is None:
            return "no_channel"
        await queue_channel_post(session, bulletin, channel)
        return "queued"
    post = next((r for r in rows if r.purpose == store.channel_purpose(bulletin.id)), rows[0])
    if post.status == "sent":
        return "posted"
    again = [r.id for r in rows if r.status in ("refused", "failed")]
    if channel is not None:
        for r in rows:
            if r.id in again and r.chat_id != channel:
                r.chat_id = channel
        await session.flush()
    done = await outbox.requeue(
        session, row_ids=again, statuses=("refused", "failed"), reason="sent again by the crisis cell"
    )
    return "queued" if done else "under_way"


async def fix_channel_edits(services: Services) -> int:
    """Queue every replacement edit still missing (the minute job's safety net)."""
    queued = 0
    async with services.db.begin() as session:
        for old in await store.replaced_awaiting_edit(session):
            if await queue_channel_edit(session, old):
                queued += 1
    return queued


# -- answers to urgent bulletins ----------------------------------------------------------------
async def pressed_answer(ctx: Ctx, button: Button) -> None:
    """Buttons ca:ok|no:<bulletin>: "Bien reçu" / "Non concerné" (recipients only)."""
    bulletin_id = button.int(0)
    bulletin = await store.get_bulletin(ctx.session, bulletin_id)
    if bulletin is None or not await store.was_recipient(ctx.session, bulletin_id, ctx.user.id):
        ctx.refuse("crisis.answer_not_for_you")
        return
    answer = "ack" if button.action == "ok" else "not_concerned"
    await store.record_answer(ctx.session, bulletin, ctx.user.id, answer, now=ctx.now)
    ctx.answer(ctx.t(f"crisis.answer_toast_{answer}"))
    ctx.edit(urgent_text(bulletin, ctx.lang, answer=answer))


router.on("ca", "ok", pressed_answer, args=1)
router.on("ca", "no", pressed_answer, args=1)


# -- follow-up and escalation -------------------------------------------------------------------
async def tracked_bulletin(ctx: Ctx, raw: str | None, *, urgent_only: bool) -> Bulletin | None:
    """The bulletin named by `raw` (or the latest urgent one); says why when there is none."""
    if raw:
        number = int_or_none(raw.lstrip("n°#").strip())
        bulletin = await store.get_bulletin(ctx.session, number) if number else None
    else:
        bulletin = await store.latest_urgent(ctx.session)
    if bulletin is None:
        ctx.say("crisis.track_unknown" if raw else "crisis.track_none")
        return None
    if urgent_only and bulletin.priority != "urgent":
        ctx.say("crisis.track_not_urgent", number=bulletin.id)
        return None
    return bulletin


def person_line(ctx: Ctx, user: Any) -> str:
    """A name to call: full name, profession, phone number when shared (/telephone)."""
    profession = ctx.t(f"profession.{user.profession or 'other'}")
    if user.phone:
        return ctx.t(
            "crisis.track_person_phone", name=user.display_name, profession=SafeHTML(profession), phone=user.phone
        )
    return ctx.t("crisis.track_person", name=user.display_name, profession=SafeHTML(profession))


NAMES_BUDGET = 1200  # characters of names per list: /suivi stays one message, whatever the names


def names_within(ctx: Ctx, people: list[Any], budget: int) -> list[str]:
    """As many `person_line`s as fit in `budget` characters (at least one)."""
    lines: list[str] = []
    for person in people:
        line = person_line(ctx, person)
        if lines and sum(len(x) + 1 for x in lines) + len(line) > budget:
            break
        lines.append(line)
    return lines


async def channel_line(ctx: Ctx, bulletin: Bulletin) -> tuple[str, bool]:
    """/suivi's line about the channel post, and whether "Republier" applies."""
    post = await store.channel_post(ctx.session, bulletin.id)
    if post is None:
        if configured_value(ctx.services.settings, chats.CHANNEL) is None:
            return ctx.t("crisis.track_channel_none"), False
        return ctx.t("crisis.track_channel_never"), True
    if post.status == "sent":
        link = channel_link(post.chat_id, post.message_id)
        return (
            ctx.t("crisis.track_channel_sent_link", url=link) if link else ctx.t("crisis.track_channel_sent")
        ), False
    if post.status in ("pending", "sending"):
        return ctx.t("crisis.track_channel_pending"), False
    if post.status == "refused":
        return ctx.t("crisis.track_channel_refused", reason=refusal_reason(post.error, ctx.lang)), True
    if post.status == "failed":
        return ctx.t("crisis.track_channel_failed", reason=refusal_reason(post.error, ctx.lang)), True
    return ctx.t("crisis.track_channel_unknown"), False


async def tracking_view(ctx: Ctx, bulletin: Bulletin) -> tuple[str, list[list[tuple[str, str]]]]:
    """/suivi: the channel post, then for an urgent bulletin the live counts, who to call,
    escalations; with its buttons (refresh, republish, escalate)."""
    lines = [ctx.t("crisis.track_head", number=bulletin.id, title=bulletin.title)]
    if bulletin.status == "replaced" and bulletin.replaced_by_id:
        lines.append(ctx.t("crisis.track_replaced", number=bulletin.replaced_by_id))
    channel_text, may_republish = await channel_line(ctx, bulletin)
    lines.append(channel_text)
    urgent = bulletin.priority == "urgent"
    if urgent:
        tr = await store.tracking(ctx.session, bulletin)
        lines.append(
            ctx.t(
                "crisis.track_counts",
                audience=tr.audience,
                delivered=tr.delivered,
                pending=tr.pending,
                ack=tr.acknowledged,
                not_concerned=tr.not_concerned,
                no_answer=tr.no_answer,
                unreachable=tr.unreachable,
            )
        )
        silent, silent_n, lost, lost_n = await store.silent_people(ctx.session, bulletin)
        for key, people, total in (
            ("crisis.track_silent_names", silent, silent_n),
            ("crisis.track_lost_names", lost, lost_n),
        ):
            if people:
                lines.append(ctx.tn(key, total))
                shown = names_within(ctx, people, NAMES_BUDGET)
                lines += shown
                if total > len(shown):
                    lines.append(ctx.tn("crisis.track_more", total - len(shown)))
        tz = ctx.services.tz
        for rnd in tr.escalations:
            due = format_time(rnd.due_at, ctx.lang, tz)
            if rnd.counts.get("pending") and rnd.due_at > ctx.now:
                lines.append(ctx.tn("crisis.track_escalation_planned", rnd.total, round=rnd.number, time=due))
            elif bulletin.status == "replaced" and not rnd.counts.get("sent") and not rnd.counts.get("pending"):
                lines.append(ctx.tn("crisis.track_escalation_cancelled", rnd.total, round=rnd.number, time=due))
            else:
                lines.append(
                    ctx.tn(
                        "crisis.track_escalation_done",
                        rnd.total,
                        round=rnd.number,
                        time=due,
                        sent=rnd.counts.get("sent", 0),
                    )
                )
    else:
        lines.append(ctx.t("crisis.track_not_urgent_note"))
    stamp = format_time(ctx.now, ctx.lang, ctx.services.tz)
    lines.append(ctx.t("crisis.track_updated", time=stamp))
    keyboard = [[(ctx.t("crisis.track_refresh"), f"cv:ref:{bulletin.id}:0")]]
    if may_republish:
        keyboard.append([(ctx.t("crisis.republish_button"), f"cv:rep:{bulletin.id}:0")])
    if urgent and bulletin.status != "replaced":
        keyboard += [
            [(ctx.t("crisis.track_escalate_now"), f"cv:now:{bulletin.id}:0")],
            [
                (ctx.t("crisis.track_escalate_in", minutes=30), f"cv:in:{bulletin.id}:30"),
                (ctx.t("crisis.track_escalate_in_hours", hours=2), f"cv:in:{bulletin.id}:120"),
            ],
        ]
    return "\n".join(lines), keyboard


@handler
async def on_track(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/suivi [n]: the channel post, and for an urgent bulletin delivered, acknowledged, who
    is silent or unreachable (by name) — with refresh, republish and escalation."""
    if not require_cell(ctx):
        return
    bulletin = await tracked_bulletin(ctx, context.args[0] if context.args else None, urgent_only=False)
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
        due = format_time(ctx.now + timedelta(minutes=minutes), ctx.lang, ctx.services.tz)
        ctx.send(ctx.tn("crisis.escalate_later", count, number=bulletin.id, time=due))


async def refuse_replaced(ctx: Ctx, bulletin: Bulletin) -> bool:
    """A replaced bulletin is not escalated: say so, and point to the one in force."""
    if bulletin.status != "replaced":
        return False
    successor = await store.get_bulletin(ctx.session, bulletin.replaced_by_id) if bulletin.replaced_by_id else None
    key = (
        "crisis.escalate_replaced_urgent"
        if successor is not None and successor.priority == "urgent"
        else "crisis.escalate_replaced"
    )
    text = ctx.t(key, number=bulletin.id, new=bulletin.replaced_by_id or "?")
    ctx.answer(text, alert=True)
    ctx.send(text)
    return True


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
    bulletin = await tracked_bulletin(ctx, args[0], urgent_only=True)
    if bulletin is None or await refuse_replaced(ctx, bulletin):
        return
    count = await escalate(ctx, bulletin, minutes)
    await say_escalated(ctx, bulletin, minutes, count)


async def pressed_track(ctx: Ctx, button: Button) -> None:
    """Buttons cv:ref|now|in|rep:<bulletin>:<minutes> (crisis cell only)."""
    bulletin_id, minutes = button.int(0), button.int(1)
    if minutes > MAX_DELAY_MINUTES:
        raise BadButton("delay out of range")
    bulletin = await store.get_bulletin(ctx.session, bulletin_id)
    if bulletin is None or (button.action in ("now", "in") and bulletin.priority != "urgent"):
        raise BadButton("bulletin gone, or not urgent")
    if button.action in ("now", "in"):
        if await refuse_replaced(ctx, bulletin):
            return
        count = await escalate(ctx, bulletin, minutes if button.action == "in" else 0)
        await say_escalated(ctx, bulletin, minutes if button.action == "in" else 0, count)
        ctx.answer(ctx.tn("crisis.escalate_toast", count))
    elif button.action == "rep":
        outcome = await republish(ctx.session, ctx.services, bulletin, button.context.bot)
        ctx.answer(ctx.t(f"crisis.republish_{outcome}", number=bulletin.id), alert=outcome == "no_channel")
        if outcome == "queued":
            ctx.wake_outbox = True
        await ctx.session.flush()
    text, keyboard = await tracking_view(ctx, bulletin)
    ctx.edit(text, keyboard)


for _action in ("ref", "now", "in", "rep"):
    router.on("cv", _action, pressed_track, args=2)
router.guard("cv", lambda ctx, button: require_cell(ctx))


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FLOW: {"title": step_title, "body": step_body, "links": step_links, "file": step_file, "replaces": step_replaces},
}
