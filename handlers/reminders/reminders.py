"""Reminders and deliveries: /rappels (mute), /rappels_rencontre (offsets), /envois (counts), .ics files."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.chats import CELL, CHANNEL, configured_chats
from bot.dates import format_moment
from handlers.core import dialog
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, handler
from handlers.core.render import meeting_picker, session_label
from handlers.crisis.shared import refusal_reason
from handlers.meetings import ics
from handlers.reminders import planner
from storage import dialogs
from storage import meetings as meetings_store
from storage import reminders as store
from storage.models import Dialog, Meeting
from storage.users import list_groups

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

OFFSETS_FLOW = "reminder_offsets"


# -------------------------------------------------------------------------------- /rappels
async def render_settings(ctx: Ctx) -> tuple[str, list[list[tuple[str, str]]]]:
    """My reminders: on or off for all, then each upcoming registration."""
    rows = await meetings_store.my_registrations(ctx.session, ctx.user.id, now=ctx.now)
    tz = ctx.services.settings.timezone
    lines = [ctx.t("reminders.settings_title")]
    keyboard: list[list[tuple[str, str]]] = []
    if ctx.user.reminders_muted:
        lines.append(ctx.t("reminders.all_muted"))
        keyboard.append([(ctx.t("reminders.button_unmute_all"), "r:all:0")])
    else:
        lines.append(ctx.t("reminders.all_on", offsets=planner.describe_offsets(None, ctx.lang)))
        keyboard.append([(ctx.t("reminders.button_mute_all"), "r:all:1")])
        for reg, ms, meeting in rows:
            label = session_label(ms, meeting, ctx.lang, tz)
            if reg.reminders_muted:
                lines.append(ctx.t("reminders.line_muted", title=meeting.title, label=label))
                keyboard.append([(ctx.t("reminders.button_unmute_one", label=label), f"r:son:{ms.id}")])
            else:
                lines.append(
                    ctx.t(
                        "reminders.line_on",
                        title=meeting.title,
                        label=label,
                        offsets=planner.describe_offsets(meeting.reminder_offsets, ctx.lang),
                    )
                )
                keyboard.append([(ctx.t("reminders.button_mute_one", label=label), f"r:soff:{ms.id}")])
        if not rows:
            lines.append(ctx.t("reminders.no_registration"))
    return "\n\n".join(lines), keyboard


@handler
async def on_reminders(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rappels: see and mute my reminders, for everything or per meeting."""
    text, keyboard = await render_settings(ctx)
    ctx.send(text, keyboard)


async def mute_all(ctx: Ctx, muted: bool) -> None:
    ctx.user.reminders_muted = muted
    if muted:
        await store.drop_pending_for(ctx.session, ctx.user.id)
    ctx.answer(ctx.t("reminders.toast_all_muted" if muted else "reminders.toast_all_on"))


async def mute_one(ctx: Ctx, session_id: int, muted: bool) -> bool:
    if not await store.set_registration_muted(ctx.session, ctx.user.id, session_id, muted):
        ctx.answer(ctx.t("reminders.not_registered"), alert=True)
        return False
    if muted:
        await store.drop_pending_for(ctx.session, ctx.user.id, session_id)
    ctx.answer(ctx.t("reminders.toast_muted" if muted else "reminders.toast_on"))
    return True


# -------------------------------------------------------------------------------- /rappels_rencontre
@handler
async def on_meeting_reminders(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rappels_rencontre: a coordinator picks a meeting, then types when reminders go out."""
    group_ids = await ctx.coordinated_group_ids()
    if group_ids == []:
        ctx.refuse()
        return
    meetings = await meetings_store.meetings_managed_by(ctx.session, group_ids=group_ids, now=ctx.now)
    if not meetings:
        ctx.say("reminders.no_meeting")
        return
    tz = ctx.services.settings.timezone
    keyboard = meeting_picker(meetings, lambda m: f"r:cfg:{m.id}", lang=ctx.lang, tz=tz, now=ctx.now, limit=20)
    ctx.say("reminders.pick_meeting", keyboard)


async def managed(ctx: Ctx, meeting_id: int) -> Meeting | None:
    """The meeting, if this user may manage it (checked on every button and answer)."""
    meeting = await meetings_store.get_meeting(ctx.session, meeting_id)
    if meeting is None or not await ctx.may_manage_group(meeting.group_id):
        ctx.refuse()
        return None
    return meeting


async def ask_offsets(ctx: Ctx, meeting: Meeting) -> None:
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, OFFSETS_FLOW, "offsets", {"meeting_id": meeting.id})
    ctx.edit(
        ctx.t(
            "reminders.ask_offsets",
            title=meeting.title,
            current=planner.describe_offsets(meeting.reminder_offsets, ctx.lang),
        ),
        [
            [
                (ctx.t("reminders.button_default"), f"r:def:{meeting.id}"),
                (ctx.t("reminders.button_none"), f"r:none:{meeting.id}"),
            ]
        ],
    )


async def save_offsets(ctx: Ctx, meeting: Meeting, offsets: list[int] | None) -> None:
    old = planner.offsets_of(meeting)
    meeting.reminder_offsets = offsets
    await planner.offsets_changed(ctx.session, meeting, old, ctx.now)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.say("reminders.offsets_saved", title=meeting.title, offsets=planner.describe_offsets(offsets, ctx.lang))


async def step_offsets(ctx: Ctx, d: Dialog, text: str) -> None:
    meeting = await managed(ctx, int(d.data.get("meeting_id", 0)))
    if meeting is None:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        return
    try:
        offsets = planner.parse_offsets(text)
    except planner.OffsetError as err:
        ctx.say("reminders.offsets_unreadable", token=err.token)
        return
    await save_offsets(ctx, meeting, offsets)


# -------------------------------------------------------------------------------- buttons
async def redraw_settings(ctx: Ctx) -> None:
    text, keyboard = await render_settings(ctx)
    ctx.edit(text, keyboard)


@router.on("r", "all", args=1)
async def pressed_all(ctx: Ctx, button: Button) -> None:
    """r:all:<0|1> on /rappels: every reminder off (non-zero) or on."""
    await mute_all(ctx, bool(button.int(0)))
    await redraw_settings(ctx)


async def pressed_session(ctx: Ctx, button: Button) -> None:
    """r:soff|son:<session> on /rappels."""
    if await mute_one(ctx, button.int(0), button.action == "soff"):
        await redraw_settings(ctx)


@router.on("r", "mute", args=1)
async def pressed_mute(ctx: Ctx, button: Button) -> None:
    """r:mute:<session> under a reminder: keep the reminder on screen, say it in a line."""
    if await mute_one(ctx, button.int(0), True):
        ctx.say("reminders.muted_from_reminder")


async def pressed_offsets(ctx: Ctx, button: Button) -> None:
    """r:cfg|def|none:<meeting>: a coordinator's reminder times for a meeting."""
    meeting = await managed(ctx, button.int(0))
    if meeting is None:
        return
    if button.action == "cfg":
        await ask_offsets(ctx, meeting)
    else:
        await save_offsets(ctx, meeting, None if button.action == "def" else [])


router.on("r", "soff", pressed_session, args=1)
router.on("r", "son", pressed_session, args=1)
for _action in ("cfg", "def", "none"):
    router.on("r", _action, pressed_offsets, args=1)


# -------------------------------------------------------------------------------- .ics
@router.on("m", "ics", args=1)
async def pressed_calendar(ctx: Ctx, button: Button) -> None:
    """m:ics:<session>: the session as a calendar file (stable UID, SEQUENCE = version)."""
    session_id = button.int(0)
    ms = await meetings_store.get_session(ctx.session, session_id)
    if ms is None or ms.meeting.status == "draft":
        ctx.answer(ctx.t("meetings.unknown_session"), alert=True)
        return
    if not (
        await store.may_see_session(ctx.session, ctx.user.id, session_id)
        or await ctx.may_manage_group(ms.meeting.group_id)
    ):
        ctx.refuse()
        return
    content = ics.session_calendar(
        ms, ms.meeting, lang=ctx.lang, tz=ctx.services.settings.timezone, bot_username=ctx.services.bot_username
    )
    await store.record_calendar_copy(ctx.session, ctx.user.id, ms.id, ms.version, ctx.now)
    ctx.answer(ctx.t("reminders.calendar_toast"))
    ctx.send_document(ics.filename(ms), content, ctx.t("reminders.calendar_caption", title=ms.meeting.title))


# -------------------------------------------------------------------------------- /envois
STATUS_ORDER = ("sent", "pending", "sending", "failed", "refused", "unreachable", "unknown", "skipped")


@handler
async def on_sends(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/envois: recent sends with how many people were reached, are waiting, failed, are
    unreachable or unknown, and how each group or channel took it (a refused channel post)."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    sends = await store.recent_sends(ctx.session, created_by=None if ctx.is_admin else ctx.user.id)
    if not sends:
        ctx.say("reminders.sends_none")
        return
    chats = await store.chat_deliveries(ctx.session, [send.id for send, _ in sends])
    names = await chat_names(ctx)
    tz = ctx.services.tz
    lines = [ctx.t("reminders.sends_title")]
    for send, counts in sends:
        parts = [ctx.tn(f"reminders.count.{status}", counts[status]) for status in STATUS_ORDER if counts.get(status)]
        line = ctx.t(
            "reminders.sends_line",
            label=send.label or send.kind,
            when=format_moment(send.created_at, ctx.lang, tz),
            recipients=ctx.tn("reminders.recipients", sum(counts.values())),
            counts=" · ".join(parts) or ctx.t("reminders.count.empty"),
        )
        for chat in chats.get(send.id, []):
            line += "\n" + chat_line(ctx, chat, names)
        lines.append(line)
    ctx.send("\n\n".join(lines))


async def chat_names(ctx: Ctx) -> dict[int, str]:
    """What to call the groups and channels the bot posts to (configured chats, groups' chats)."""
    names = {g.chat_id: g.name for g in await list_groups(ctx.session) if g.chat_id}
    found = await configured_chats(ctx.session, ctx.services.settings)
    if CELL in found:
        names[found[CELL]] = ctx.t("reminders.chat_cell")
    if CHANNEL in found:
        names[found[CHANNEL]] = ctx.t("reminders.chat_channel")
    return names


def chat_line(ctx: Ctx, chat: store.ChatDelivery, names: dict[int, str]) -> str:
    where = names.get(chat.chat_id) or ctx.t("reminders.chat_other", id=chat.chat_id)
    if chat.status in ("refused", "failed"):
        return ctx.t(f"reminders.chat_{chat.status}", where=where, reason=refusal_reason(chat.error, ctx.lang))
    state = chat.status if chat.status in ("sent", "pending", "sending", "unknown", "skipped") else "unknown"
    return ctx.t(f"reminders.chat_{state}", where=where)


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    OFFSETS_FLOW: {"offsets": step_offsets},
}
