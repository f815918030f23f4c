"""A professional's side of meetings: /rencontres, /inscrire, /desinscrire, /mesinscriptions."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot.i18n import SafeHTML, t
from handlers.core.buttons import Button, ButtonRouter
from handlers.core.common import Ctx, handler
from handlers.core.render import SessionLike, place_text, session_card, session_label, session_picker, when_text
from handlers.meetings import ics
from storage import meetings as store
from storage import reminders as reminders_store
from storage.meetings import SessionView

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

PAGE_SIZE = 5


def register_button(ctx: Ctx, view: SessionView) -> list[tuple[str, str]]:
    if view.my_status is not None:
        return [
            (
                ctx.t(
                    "meetings.button_cancel",
                    label=session_label(view.session, view.meeting, ctx.lang, ctx.services.settings.timezone),
                ),
                f"m:can:{view.session.id}",
            )
        ]
    label = session_label(view.session, view.meeting, ctx.lang, ctx.services.settings.timezone)
    return [(ctx.t("meetings.button_register", label=label), f"m:reg:{view.session.id}")]


async def render_page(ctx: Ctx, page: int) -> tuple[str, list[list[tuple[str, str]]]]:
    """One page of upcoming sessions with a button each and a pager."""
    views, total = await store.upcoming_sessions(
        ctx.session, user_id=ctx.user.id, now=ctx.now, limit=PAGE_SIZE, offset=page * PAGE_SIZE
    )
    if total == 0:
        return ctx.t("meetings.none_upcoming"), []
    if not views:  # a stale pager button after meetings passed
        page = 0
        views, total = await store.upcoming_sessions(ctx.session, user_id=ctx.user.id, now=ctx.now, limit=PAGE_SIZE)
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    tz = ctx.services.settings.timezone
    header = ctx.tn("meetings.upcoming_header", total, page=page + 1, pages=pages)
    text = "\n\n".join([header, *(session_card(v, ctx.lang, tz) for v in views)])
    keyboard = [register_button(ctx, v) for v in views]
    pager = []
    if page > 0:
        pager.append((ctx.t("common.previous"), f"m:pg:{page - 1}"))
    if page + 1 < pages:
        pager.append((ctx.t("common.next"), f"m:pg:{page + 1}"))
    if pager:
        keyboard.append(pager)
    return text, keyboard


@handler
async def on_meetings(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/rencontres: upcoming sessions of the groups I follow, soonest first."""
    if ctx.user.onboarded_at is None:
        ctx.say("onboarding.start_first")
        return
    text, keyboard = await render_page(ctx, 0)
    ctx.send(text, keyboard)


@handler
async def on_register_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/inscrire: pick a session, then confirm."""
    if ctx.user.onboarded_at is None:
        ctx.say("onboarding.start_first")
        return
    views, _ = await store.upcoming_sessions(ctx.session, user_id=ctx.user.id, now=ctx.now, limit=20)
    open_views = [v for v in views if v.my_status is None and v.session.status == "open"]
    if not open_views:
        ctx.say("meetings.nothing_to_register" if views else "meetings.none_upcoming")
        return
    # The same button as on a /rencontres card: one way to register, whichever screen it is pressed on.
    tz = ctx.services.settings.timezone
    keyboard = session_picker(open_views, lambda v: f"m:reg:{v.session.id}", lang=ctx.lang, tz=tz)
    ctx.say("meetings.pick_session", keyboard)


async def show_registration_card(ctx: Ctx, session_id: int) -> None:
    """The card a deep link or /inscrire opens: details and a confirm button."""
    view = await store.session_view(ctx.session, session_id, ctx.user.id)
    if view is None or view.meeting.status != "published":
        ctx.say("meetings.unknown_session")
        return
    card = session_card(view, ctx.lang, ctx.services.settings.timezone)
    if view.my_status is not None:
        ctx.send(card, [register_button(ctx, view)])
        return
    ctx.send(
        f"{card}\n\n{ctx.t('meetings.confirm_question')}",
        [[(ctx.t("meetings.button_confirm"), f"m:reg:{session_id}"), (ctx.t("common.cancel"), "m:no:0")]],
    )


RESULT_KEYS = {
    "confirmed": "meetings.registered",
    "already_confirmed": "meetings.already_registered",
    "closed": "meetings.refused_closed",
    "past": "meetings.refused_past",
    "cancelled": "meetings.refused_cancelled",
    "missing": "meetings.unknown_session",
}


# -- buttons m:<action>:<n> ------------------------------------------------------------------


@router.on("m", "pg", args=1)
async def pressed_page(ctx: Ctx, button: Button) -> None:
    text, keyboard = await render_page(ctx, button.int(0))
    ctx.edit(text, keyboard)


@router.on("m", "ask", args=1)
async def pressed_ask(ctx: Ctx, button: Button) -> None:
    session_id = button.int(0)
    if ctx.user.onboarded_at is None:
        ctx.say("onboarding.start_first")
        return
    await show_registration_card(ctx, session_id)


@router.on("m", "reg", args=1)
async def pressed_register(ctx: Ctx, button: Button) -> None:
    session_id = button.int(0)
    if ctx.user.onboarded_at is None:
        ctx.say("onboarding.start_first")
        return
    await register(ctx, session_id)


@router.on("m", "can", args=1)
async def pressed_cancel(ctx: Ctx, button: Button) -> None:
    await ask_cancel(ctx, button.int(0))


@router.on("m", "cok", args=1)
async def pressed_cancel_ok(ctx: Ctx, button: Button) -> None:
    await cancel(ctx, button.int(0))


@router.on("m", "keep", args=1)
async def pressed_keep(ctx: Ctx, button: Button) -> None:
    button.int(0)  # m:keep:<session>: still an id, or the button is forged
    ctx.edit(ctx.t("meetings.cancel_kept"))


@router.on("m", "no", args=1)
async def pressed_no(ctx: Ctx, button: Button) -> None:
    button.int(0)  # m:no:0
    ctx.edit(ctx.t("meetings.registration_abandoned"))


async def register(ctx: Ctx, session_id: int) -> None:
    result = await store.register(ctx.session, session_id, ctx.user.id, now=ctx.now)
    if result.outcome in ("waitlisted", "already_waitlisted"):
        key = "meetings.waitlisted" if result.outcome == "waitlisted" else "meetings.already_waitlisted"
        text = ctx.t(key, position=result.position)
    else:
        text = ctx.t(RESULT_KEYS[result.outcome])
    if (
        result.session is not None
        and result.meeting is not None
        and result.outcome in ("confirmed", "waitlisted", "already_confirmed", "already_waitlisted")
    ):
        text = f"{text}\n\n" + session_summary(ctx, result.meeting.title, result.session)
    ctx.answer(text.split("\n", 1)[0][:190])
    keyboard = None
    if result.session is not None and result.outcome in ("confirmed", "already_confirmed"):  # the .ics file
        keyboard = [[(ctx.t("reminders.button_calendar"), f"m:ics:{result.session.id}")]]
    ctx.send(text, keyboard)


def summary_text(title: str, ms: SessionLike, lang: str, tz: str) -> str:
    """What, when and where, under a registration's, a promotion's or a cancellation's outcome."""
    when, place = when_text(ms, lang, tz), place_text(ms, lang)
    return t("meetings.registration_summary", lang, title=title, when=when, place=place)


def session_summary(ctx: Ctx, title: str, ms: SessionLike) -> str:
    return summary_text(title, ms, ctx.lang, ctx.services.settings.timezone)


async def ask_cancel(ctx: Ctx, session_id: int) -> None:
    """ "Se désinscrire" and "Je ne pourrai pas venir" ask first: a seat given up goes to the next person."""
    view = await store.session_view(ctx.session, session_id, ctx.user.id)
    if view is None or view.my_status is None:
        ctx.answer(ctx.t("meetings.not_registered"))
        ctx.say("meetings.not_registered")
        return
    ctx.send(
        f"{ctx.t('meetings.cancel_question')}\n\n{session_summary(ctx, view.meeting.title, view.session)}",
        [
            [
                (ctx.t("meetings.button_cancel_yes"), f"m:cok:{session_id}"),
                (ctx.t("meetings.button_cancel_no"), f"m:keep:{session_id}"),
            ]
        ],
    )


async def cancel(ctx: Ctx, session_id: int) -> None:
    """Give the seat up; whoever holds its calendar entry gets the file that removes it."""
    result = await store.cancel_registration(ctx.session, session_id, ctx.user.id, now=ctx.now)
    if not result.cancelled or result.session is None:
        ctx.answer(ctx.t("meetings.not_registered"))
        ctx.edit(ctx.t("meetings.not_registered"))
        return
    ms = result.session
    ctx.answer(ctx.t("meetings.unregistered"))
    ctx.edit(f"{ctx.t('meetings.unregistered')}\n\n{session_summary(ctx, ms.meeting.title, ms)}")
    if await reminders_store.drop_calendar_copy(ctx.session, ctx.user.id, ms.id):
        tz, username = ctx.services.settings.timezone, ctx.services.bot_username
        content = ics.session_calendar(ms, ms.meeting, lang=ctx.lang, tz=tz, bot_username=username, withdrawn=True)
        ctx.send_document(ics.filename(ms), content, ctx.t("meetings.calendar_withdrawn", title=ms.meeting.title))
    if result.promoted_user_id is not None:
        await announce_promotions(ctx, ms, [result.promoted_user_id])


async def announce_promotions(ctx: Ctx, ms: store.MeetingSession, user_ids: list[int]) -> None:
    """Tell people who just got a seat from the waiting list (through the outbox, right away)."""
    tz = ctx.services.settings.timezone
    await notify.notify(
        ctx.session,
        user_ids,
        purpose=f"promoted:s{ms.id}:upd{ctx.update_id}",  # one notice per seat given, whatever the clock
        render=lambda lang: (
            t("meetings.promoted", lang, summary=SafeHTML(summary_text(ms.meeting.title, ms, lang, tz))),
            [
                [(t("meetings.button_cannot_come", lang), f"m:can:{ms.id}")],
                [(t("reminders.button_calendar", lang), f"m:ics:{ms.id}")],
            ],
        ),
        default_lang=ctx.services.settings.default_locale,
    )
    ctx.wake_outbox = True


async def list_mine(ctx: Ctx, key: str) -> None:
    rows = await store.my_registrations(ctx.session, ctx.user.id, now=ctx.now)
    if not rows:
        ctx.say("meetings.no_registrations")
        return
    tz = ctx.services.settings.timezone
    lines, keyboard = [ctx.t(key)], []
    for reg, ms, meeting in rows:
        status = (
            ctx.t("meetings.status_confirmed") if reg.status == "confirmed" else ctx.t("meetings.status_waitlisted")
        )
        lines.append(ctx.t("meetings.mine_line", title=meeting.title, when=when_text(ms, ctx.lang, tz), status=status))
        keyboard.append(
            [(ctx.t("meetings.button_cancel", label=session_label(ms, meeting, ctx.lang, tz)), f"m:can:{ms.id}")]
        )
    ctx.send("\n\n".join(lines), keyboard)


@handler
async def on_my_registrations(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/mesinscriptions: my upcoming registrations, each with a cancel button."""
    await list_mine(ctx, "meetings.mine_header")


@handler
async def on_unregister(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/desinscrire: choose which registration to cancel."""
    await list_mine(ctx, "meetings.pick_to_cancel")
