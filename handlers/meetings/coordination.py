"""A coordinator's tools for published meetings: /inscrits, /gerer, /lien (/coordinateur: handlers/account/groups.py).

Buttons carry "co:<action>:<id>" (a meeting id for ins|ger|lnk, a session id otherwise). The
id comes from the client, so every press reloads the meeting and checks that this user may
manage its group before doing anything: a forged button from a professional, or from the
coordinator of another group, is refused and changes nothing.

Changes to a session (/gerer) are told to every registrant through the outbox, in their own
language, in the same transaction as the change; then `handlers.meetings.session_events.on_session_changed`
lets reminders and calendar files follow.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot.dates import When, format_when
from bot.i18n import t
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonFn, ButtonRouter, coordinators_only
from handlers.core.common import Ctx, handler
from handlers.core.qr import qr_png
from handlers.core.render import meeting_picker, session_label, when_text
from handlers.meetings.export import filename_for, registrants_csv
from handlers.meetings.meetings import announce_promotions
from handlers.meetings.new_meeting import (
    AnswerError,
    capacity_label,
    deep_link,
    hint_text,
    place_label,
    propose_date,
    read_capacity,
    read_place,
    venue_text,
    when_from_data,
)
from handlers.meetings.session_events import on_session_changed
from storage import dialogs
from storage import meetings as store
from storage.models import Dialog, Meeting, MeetingSession

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

EDIT_FLOW = "edit_session"
MEETINGS_SHOWN = 30


# -- permissions ----------------------------------------------------------------------------


async def managed_meeting(ctx: Ctx, meeting_id: int) -> Meeting | None:
    """The meeting if it exists and this user may manage its group; otherwise refuse (and None)."""
    meeting = await store.get_meeting(ctx.session, meeting_id)
    if meeting is None or not await ctx.may_manage_group(meeting.group_id):
        ctx.refuse()
        return None
    return meeting


async def managed_session(ctx: Ctx, session_id: int) -> MeetingSession | None:
    """The session (meeting loaded) if this user may manage its meeting's group; otherwise refuse."""
    ms = await store.get_session(ctx.session, session_id)
    if ms is None or not await ctx.may_manage_group(ms.meeting.group_id):
        ctx.refuse()
        return None
    return ms


# -- commands -------------------------------------------------------------------------------


async def pick_meeting(ctx: Ctx, action: str, question: str) -> None:
    """The meetings this user manages that still have a session ahead, one button each."""
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    meetings = await store.meetings_managed_by(ctx.session, group_ids=await ctx.coordinated_group_ids(), now=ctx.now)
    if not meetings:
        ctx.say("coord.no_meetings")
        return
    tz, shown = ctx.services.settings.timezone, MEETINGS_SHOWN
    keyboard = meeting_picker(meetings, lambda m: f"co:{action}:{m.id}", lang=ctx.lang, tz=tz, now=ctx.now, limit=shown)
    ctx.say(question, keyboard)


@handler
async def on_registrants(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/inscrits: counts per session and the list as a CSV file."""
    await pick_meeting(ctx, "ins", "coord.pick_meeting_registrants")


@handler
async def on_manage(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/gerer: change a session's date, place or capacity, or cancel it."""
    await pick_meeting(ctx, "ger", "coord.pick_meeting_manage")


@handler
async def on_link(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/lien: the registration link and QR code of each session."""
    await pick_meeting(ctx, "lnk", "coord.pick_meeting_link")


# -- buttons --------------------------------------------------------------------------------


async def show_registrants(ctx: Ctx, meeting: Meeting) -> None:
    """Counts per session (confirmed / waiting / capacity), then the CSV."""
    tz = ctx.services.settings.timezone
    lines = [ctx.t("coord.registrants_header", title=meeting.title)]
    total = 0
    for c in await store.meeting_counts(ctx.session, meeting.id):
        total += c.confirmed + c.waitlisted
        when, place = when_text(c.session, ctx.lang, tz), place_label(ctx, c.session.site, c.session.address)
        if c.session.status == "cancelled":  # its seats are gone: nobody there is "confirmed"
            lines.append(ctx.tn("coord.registrants_cancelled", c.confirmed + c.waitlisted, when=when, place=place))
            continue
        lines.append(
            ctx.t(
                "coord.registrants_line",
                when=when,
                place=place,
                confirmed=ctx.tn("coord.count_confirmed", c.confirmed),
                waitlisted=c.waitlisted,
                capacity=capacity_label(ctx, c.session.capacity),
            )
        )
    if total == 0:
        lines.append(ctx.t("coord.registrants_none"))
    ctx.edit("\n\n".join(lines))
    if total:
        rows = await store.registrants(ctx.session, meeting.id)
        content = registrants_csv(rows, lang=ctx.lang, tz=tz)
        ctx.send_document(filename_for(meeting.title), content, caption=ctx.t("coord.csv_caption", title=meeting.title))


async def show_links(ctx: Ctx, meeting: Meeting) -> None:
    """Each open session's deep link, and its QR code as a photo captioned with the link."""
    tz = ctx.services.settings.timezone
    sessions = [ms for ms in meeting.sessions if ms.status != "cancelled" and ms.starts_at > ctx.now]
    if not sessions:
        ctx.edit(ctx.t("coord.no_open_session", title=meeting.title))
        return
    lines = [ctx.t("coord.links_header", title=meeting.title)]
    for ms in sessions:
        lines.append(
            ctx.t(
                "coord.link_line",
                when=when_text(ms, ctx.lang, tz),
                place=place_label(ctx, ms.site, ms.address),
                link=deep_link(ctx, ms.id),
            )
        )
    lines.append(ctx.t("coord.links_footer"))
    ctx.edit("\n\n".join(lines))
    for ms in sessions:
        link = deep_link(ctx, ms.id)
        caption = ctx.t("coord.qr_caption", label=session_label(ms, meeting, ctx.lang, tz), link=link)
        ctx.send_photo(qr_png(link), caption=caption, filename=f"qr-session-{ms.id}.png")


async def pick_session(ctx: Ctx, meeting: Meeting) -> None:
    tz = ctx.services.settings.timezone
    sessions = [ms for ms in meeting.sessions if ms.status != "cancelled" and ms.starts_at > ctx.now]
    if not sessions:
        ctx.edit(ctx.t("coord.no_open_session", title=meeting.title))
        return
    keyboard = [[(session_label(ms, meeting, ctx.lang, tz), f"co:ses:{ms.id}")] for ms in sessions]
    ctx.edit(ctx.t("coord.pick_session", title=meeting.title), keyboard)


async def session_menu(ctx: Ctx, ms: MeetingSession) -> None:
    """The session's details and what can be changed."""
    if ms.status == "cancelled":
        ctx.edit(ctx.t("coord.edit.already_cancelled"))
        return
    view = await store.session_view(ctx.session, ms.id, ctx.user.id)
    confirmed, waitlisted = (view.confirmed, view.waitlisted) if view else (0, 0)
    tz = ctx.services.settings.timezone
    text = ctx.t(
        "coord.session_menu",
        title=ms.meeting.title,
        when=when_text(ms, ctx.lang, tz),
        place=place_label(ctx, ms.site, ms.address),
        capacity=capacity_label(ctx, ms.capacity),
        confirmed=ctx.tn("coord.count_confirmed", confirmed),
        waitlisted=waitlisted,
    )
    keyboard = [
        [(ctx.t("coord.button_edit_date"), f"co:date:{ms.id}")],
        [(ctx.t("coord.button_edit_place"), f"co:place:{ms.id}")],
        [(ctx.t("coord.button_edit_capacity"), f"co:cap:{ms.id}")],
        [(ctx.t("coord.button_cancel_session"), f"co:cxl:{ms.id}")],
    ]
    ctx.edit(text, keyboard)


# -- editing a session: the typed part lives in a dialog row --------------------------------


async def start_edit(ctx: Ctx, ms: MeetingSession, step: str) -> bool:
    if ms.status == "cancelled":
        ctx.edit(ctx.t("coord.edit.already_cancelled"))
        return False
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, EDIT_FLOW, step, {"sid": ms.id})
    return True


async def ask_new_date(ctx: Ctx, ms: MeetingSession) -> None:
    if await start_edit(ctx, ms, "date"):
        when = when_text(ms, ctx.lang, ctx.services.settings.timezone)
        ctx.edit(f"{ctx.t('coord.edit.ask_date', when=when)}\n{hint_text(ctx)}")


async def ask_new_place(ctx: Ctx, ms: MeetingSession) -> None:
    if await start_edit(ctx, ms, "place"):
        ctx.edit(
            ctx.t("coord.edit.ask_place", place=place_label(ctx, ms.site, ms.address)),
            [[(ctx.t("coord.button_place_tbd"), f"co:tbd:{ms.id}")]],
        )


async def ask_new_capacity(ctx: Ctx, ms: MeetingSession) -> None:
    if await start_edit(ctx, ms, "capacity"):
        ctx.edit(
            ctx.t("coord.edit.ask_capacity", capacity=capacity_label(ctx, ms.capacity)),
            [[(ctx.t("coord.button_unlimited"), f"co:nolim:{ms.id}")]],
        )


async def edit_dialog(ctx: Ctx, ms: MeetingSession, step: str, proposal: int | None = None) -> Dialog | None:
    """The open edit conversation for this very session at `step` (and date proposal), or None: the button is stale."""
    d = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    data = (d.data or {}) if d is not None else {}
    stale = proposal is not None and proposal != int(data.get("proposal", 0))
    if d is None or d.flow != EDIT_FLOW or d.step != step or data.get("sid") != ms.id or stale:
        raise BadButton("not this edit conversation, or not at this step")
    if dialogs.is_expired(d, timedelta(minutes=ctx.services.settings.conversation_timeout_minutes), ctx.now):
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.edit(ctx.t("dialog.expired"))
        return None
    if ms.status == "cancelled":  # another coordinator cancelled it meanwhile
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.edit(ctx.t("coord.edit.already_cancelled"))
        return None
    return d


async def dialog_session(ctx: Ctx, d: Dialog) -> MeetingSession | None:
    """The session a typed answer is about, with the rights re-checked (they may have changed)."""
    ms = await managed_session(ctx, int((d.data or {}).get("sid", 0)))
    if ms is None:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        return None
    if ms.status == "cancelled":
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
        ctx.say("coord.edit.already_cancelled")
        return None
    return ms


async def step_edit_date(ctx: Ctx, d: Dialog, text: str) -> None:
    ms = await dialog_session(ctx, d)
    if ms is None:
        return
    propose_date(
        ctx,
        d,
        text,
        button=lambda action, proposal: f"co:{action}:{ms.id}:{proposal}",
        save_as=lambda when: {"when": when},
    )


async def step_edit_place(ctx: Ctx, d: Dialog, text: str) -> None:
    ms = await dialog_session(ctx, d)
    if ms is None:
        return
    try:
        site, address = read_place(text)
    except AnswerError as err:
        ctx.say(err.key, **err.params)
        return
    await apply_place(ctx, ms, site, address)


async def step_edit_capacity(ctx: Ctx, d: Dialog, text: str) -> None:
    ms = await dialog_session(ctx, d)
    if ms is None:
        return
    try:
        capacity = read_capacity(text)
    except AnswerError as err:
        ctx.say(err.key, **err.params)
        return
    await apply_capacity(ctx, ms, capacity)


async def pressed_date_ok(ctx: Ctx, ms: MeetingSession, proposal: int) -> None:
    d = await edit_dialog(ctx, ms, "date_confirm", proposal)
    if d is None:
        return
    tz = ctx.services.settings.timezone
    old = When(ms.starts_at, ms.ends_at, ms.has_time)
    new = when_from_data(d.data["when"])
    updated = await store.update_session(
        ctx.session, ms.id, starts_at=new.start, ends_at=new.end, has_time=new.has_time
    )
    if updated is None:
        return
    ms = updated
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    title = ms.meeting.title
    told = await tell_registrants(
        ctx,
        ms,
        f"changed:s{ms.id}:v{ms.version}",
        lambda lang: t(
            "coord.notify.date_changed",
            lang,
            title=title,
            old=format_when(old, lang, tz),
            new=format_when(new, lang, tz),
        ),
    )
    await on_session_changed(ctx.services, ctx.session, ms, "date")
    ctx.edit(ctx.tn("coord.edit.date_done", told, when=format_when(new, ctx.lang, tz)))


async def pressed_date_fix(ctx: Ctx, ms: MeetingSession, proposal: int) -> None:
    d = await edit_dialog(ctx, ms, "date_confirm", proposal)
    if d is None:
        return
    dialogs.advance(d, "date")
    ctx.edit(f"{ctx.t('coord.retype_date')}\n{hint_text(ctx)}")


async def pressed_place_tbd(ctx: Ctx, ms: MeetingSession) -> None:
    if await edit_dialog(ctx, ms, "place") is not None:
        ctx.edit(ctx.t("coord.place_chosen", place=ctx.t("meetings.place_tbd")))
        await apply_place(ctx, ms, None, None)


async def pressed_unlimited(ctx: Ctx, ms: MeetingSession) -> None:
    if await edit_dialog(ctx, ms, "capacity") is not None:
        ctx.edit(ctx.t("coord.capacity_chosen", capacity=ctx.t("coord.capacity_unlimited")))
        await apply_capacity(ctx, ms, None)


async def apply_place(ctx: Ctx, ms: MeetingSession, site: str | None, address: str | None) -> None:
    tz = ctx.services.settings.timezone
    updated = await store.update_session(ctx.session, ms.id, site=site, address=address)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    if updated is None:
        return
    title = updated.meeting.title
    told = await tell_registrants(
        ctx,
        updated,
        f"changed:s{updated.id}:v{updated.version}",
        lambda lang: t(
            "coord.notify.place_changed",
            lang,
            title=title,
            when=when_text(updated, lang, tz),
            place=venue_text(lang, site, address),
        ),
    )
    await on_session_changed(ctx.services, ctx.session, updated, "place")
    ctx.send(ctx.tn("coord.edit.place_done", told, place=place_label(ctx, site, address)))


async def apply_capacity(ctx: Ctx, ms: MeetingSession, capacity: int | None) -> None:
    """New capacity; people it lets in from the waiting list are told right away."""
    locked = await store.lock_session(ctx.session, ms.id)
    if locked is None:
        return
    waiting = await store.waitlisted_user_ids(ctx.session, ms.id)
    updated = await store.update_session(ctx.session, ms.id, capacity=capacity)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    if updated is None:
        return
    promoted = await store.confirmed_user_ids(ctx.session, ms.id, waiting)
    if promoted:
        await announce_promotions(ctx, updated, promoted)
    confirmed, _ = await store_counts(ctx, ms.id)
    lines = [ctx.t("coord.edit.capacity_done", capacity=capacity_label(ctx, capacity))]
    if promoted:
        lines.append(ctx.tn("coord.edit.promoted", len(promoted)))
    if capacity is not None and confirmed > capacity:
        lines.append(ctx.tn("coord.edit.over_capacity", confirmed, capacity=capacity_label(ctx, capacity)))
    ctx.send("\n".join(lines))


async def store_counts(ctx: Ctx, session_id: int) -> tuple[int, int]:
    view = await store.session_view(ctx.session, session_id, ctx.user.id)
    return (view.confirmed, view.waitlisted) if view else (0, 0)


async def ask_cancel(ctx: Ctx, ms: MeetingSession) -> None:
    if ms.status == "cancelled":
        ctx.edit(ctx.t("coord.edit.already_cancelled"))
        return
    confirmed, waitlisted = await store_counts(ctx, ms.id)
    ctx.edit(
        ctx.tn(
            "coord.edit.cancel_question",
            confirmed + waitlisted,
            title=ms.meeting.title,
            when=when_text(ms, ctx.lang, ctx.services.settings.timezone),
        ),
        [
            [(ctx.t("coord.button_cancel_yes"), f"co:cxlok:{ms.id}")],
            [(ctx.t("coord.button_cancel_no"), f"co:keep:{ms.id}")],
        ],
    )


async def confirm_cancel(ctx: Ctx, ms: MeetingSession) -> None:
    tz = ctx.services.settings.timezone
    cancelled = await store.cancel_session(ctx.session, ms.id)
    if cancelled is None:
        ctx.edit(ctx.t("coord.edit.already_cancelled"))
        return
    title = cancelled.meeting.title
    told = await tell_registrants(
        ctx,
        cancelled,
        f"cancelled:s{cancelled.id}",
        lambda lang: t("coord.notify.cancelled", lang, title=title, when=when_text(cancelled, lang, tz)),
    )
    await on_session_changed(ctx.services, ctx.session, cancelled, "cancelled")
    ctx.edit(ctx.tn("coord.edit.cancelled", told, title=title, when=when_text(cancelled, ctx.lang, tz)))


async def keep_session(ctx: Ctx, ms: MeetingSession) -> None:
    ctx.edit(ctx.t("coord.edit.kept"))


async def tell_registrants(ctx: Ctx, ms: MeetingSession, purpose: str, text: Callable[[str], str]) -> int:
    """Queue `text(lang)` for everyone confirmed or waiting on `ms`; returns how many were queued."""
    ids = await store.active_registrant_ids(ctx.session, ms.id)
    told = await notify.notify(
        ctx.session,
        ids,
        purpose=purpose,
        render=lambda lang: (
            text(lang),
            [[(t("meetings.button_cannot_come", lang), f"m:can:{ms.id}")]] if ms.status != "cancelled" else None,
        ),
        default_lang=ctx.services.settings.default_locale,
    )
    ctx.wake_outbox = True
    return told


# (is it about a meeting?, what to do)
def _on_meeting(fn: Callable[[Ctx, Meeting], Awaitable[None]]) -> ButtonFn:
    """co:<action>:<meeting>: the meeting reloaded and the user's rights on its group re-checked."""

    async def pressed(ctx: Ctx, button: Button) -> None:
        meeting = await managed_meeting(ctx, button.int(0))
        if meeting is not None:
            await fn(ctx, meeting)

    return pressed


def _on_session(fn: Callable[[Ctx, MeetingSession], Awaitable[None]]) -> ButtonFn:
    """co:<action>:<session>: likewise for a session and its meeting's group."""

    async def pressed(ctx: Ctx, button: Button) -> None:
        ms = await managed_session(ctx, button.int(0))
        if ms is not None:
            await fn(ctx, ms)

    return pressed


def _on_proposal(fn: Callable[[Ctx, MeetingSession, int], Awaitable[None]]) -> ButtonFn:
    """co:dok|dno:<session>:<date proposal>: the rights first, then which proposal it answers."""

    async def pressed(ctx: Ctx, button: Button) -> None:
        ms = await managed_session(ctx, button.int(0))
        if ms is not None:
            await fn(ctx, ms, button.int(1, negative=True))

    return pressed


router.guard("co", coordinators_only)
router.on("co", "ins", _on_meeting(show_registrants), args=1)
router.on("co", "lnk", _on_meeting(show_links), args=1)
router.on("co", "ger", _on_meeting(pick_session), args=1)
router.on("co", "ses", _on_session(session_menu), args=1)
router.on("co", "date", _on_session(ask_new_date), args=1)
router.on("co", "place", _on_session(ask_new_place), args=1)
router.on("co", "cap", _on_session(ask_new_capacity), args=1)
router.on("co", "dok", _on_proposal(pressed_date_ok), args=2)
router.on("co", "dno", _on_proposal(pressed_date_fix), args=2)
router.on("co", "tbd", _on_session(pressed_place_tbd), args=1)
router.on("co", "nolim", _on_session(pressed_unlimited), args=1)
router.on("co", "cxl", _on_session(ask_cancel), args=1)
router.on("co", "cxlok", _on_session(confirm_cancel), args=1)
router.on("co", "keep", _on_session(keep_session), args=1)


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    EDIT_FLOW: {
        "date": step_edit_date,
        "date_confirm": step_edit_date,
        "place": step_edit_place,
        "capacity": step_edit_capacity,
    },
}
