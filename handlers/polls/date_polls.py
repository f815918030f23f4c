"""Date polls (/sondage_dates), the professional's side and the coordinator's last step.

Each professional gets one message listing the slots with the running totals and, per slot,
three buttons (oui / si besoin / non). Pressing one records the answer and redraws that
message, so people always see the current table. The coordinator turns the chosen slot into
a meeting open for registration in one press; everyone who answered is told, with a button to
register.
"""

from __future__ import annotations

from bot import notify
from bot.dates import When, format_deadline, format_when
from bot.i18n import t
from handlers.core.buttons import BadButton, Button, ButtonRouter
from handlers.core.common import Ctx, int_or_none
from storage import meetings as meetings_store
from storage import outbox
from storage import polls as store
from storage.polls_models import Poll, PollOption

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

VALUES = {"y": store.YES, "m": store.MAYBE, "n": store.NO}
CODES = {v: k for k, v in VALUES.items()}
WORD = {store.YES: "polls.dates.yes", store.MAYBE: "polls.dates.maybe", store.NO: "polls.dates.no"}


def option_when(option: PollOption) -> When:
    assert option.starts_at is not None
    return When(option.starts_at, option.ends_at, option.has_time, option.text or None)


def slot_text(option: PollOption, lang: str, tz: str) -> str:
    return format_when(option_when(option), lang, tz)


def vote_message(
    poll: Poll, results: list[store.SlotResult], mine: dict[int, int], lang: str, tz: str
) -> tuple[str, list[list[tuple[str, str]]] | None]:
    """The table a professional sees (running totals, their own answers) and its buttons."""
    lines = [
        t("polls.dates.vote_header", lang, title=poll.question, deadline=format_deadline(poll.closes_at, lang, tz))
    ]
    for i, r in enumerate(results, 1):
        line = t(
            "polls.dates.slot_line", lang, n=i, when=slot_text(r.option, lang, tz), yes=r.yes, maybe=r.maybe, no=r.no
        )
        if r.option.id in mine:
            line += " " + t("polls.dates.your_answer", lang, answer=t(WORD[mine[r.option.id]], lang))
        lines.append(line)
    if poll.status != "open":
        lines.append(t("polls.dates.closed_note", lang))
        return "\n".join(lines), None
    keyboard = []
    for i, r in enumerate(results, 1):
        row = []
        for value in (store.YES, store.MAYBE, store.NO):
            mark = "● " if mine.get(r.option.id) == value else ""
            row.append((f"{mark}{i} · {t(WORD[value], lang)}", f"p:d:v:{r.option.id}:{CODES[value]}"))
        keyboard.append(row)
    keyboard.append([(t("polls.dates.button_refresh", lang), f"p:d:rf:{poll.id}:0")])
    return "\n".join(lines), keyboard


async def queue_date_poll(ctx: Ctx, poll: Poll, user_ids: list[int], send_id: int) -> int:
    """Everyone's first table (all zeros), through the outbox, in their language."""
    tz = ctx.services.settings.timezone
    empty = [store.SlotResult(o, 0, 0, 0) for o in poll.options]
    return await notify.notify(
        ctx.session,
        user_ids,
        purpose=store.purpose(poll.id, "ask"),
        render=lambda lang: vote_message(poll, empty, {}, lang, tz),
        default_lang=ctx.services.settings.default_locale,
        priority=outbox.HIGH,
        send_id=send_id,
    )


async def redraw(ctx: Ctx, poll: Poll) -> None:
    results = await store.slot_results(ctx.session, poll)
    mine = await store.my_slot_answers(ctx.session, poll.id, ctx.user.id)
    text, keyboard = vote_message(poll, results, mine, ctx.lang, ctx.services.settings.timezone)
    ctx.edit(text, keyboard)


@router.on("p:d", "v", args=2)
async def pressed_answer(ctx: Ctx, button: Button) -> None:
    """p:d:v:<slot>:<y|m|n>: my answer for one slot."""
    await answer_slot(ctx, button.int(0), button.text(1))


@router.on("p:d", "rf", args=2)
async def pressed_refresh(ctx: Ctx, button: Button) -> None:
    """p:d:rf:<poll>:0: the table again, with everyone's latest answers."""
    poll = await store.get_poll(ctx.session, button.int(0))
    if poll is None or poll.kind != store.DATES or not await store.is_recipient(ctx.session, poll.id, ctx.user.id):
        ctx.refuse("polls.error.not_recipient")
        return
    await redraw(ctx, poll)


@router.on("p:d", "mk", args=2)
async def pressed_make_meeting(ctx: Ctx, button: Button) -> None:
    """p:d:mk:<poll>:<slot>: a coordinator turns the chosen slot into a meeting."""
    await make_meeting(ctx, button.int(0), int_or_none(button.text(1)))


async def answer_slot(ctx: Ctx, option_id: int, code: str) -> None:
    option = await ctx.session.get(PollOption, option_id)
    poll = await store.get_poll(ctx.session, option.poll_id) if option is not None else None
    if option is None or poll is None or poll.kind != store.DATES or code not in VALUES:
        raise BadButton("slot gone, or not an answer")
    if not await store.is_recipient(ctx.session, poll.id, ctx.user.id):
        ctx.refuse("polls.error.not_recipient")
        return
    if not store.is_open(poll, ctx.now):
        ctx.refuse("polls.error.closed")
        return
    await store.set_slot_answer(ctx.session, poll, ctx.user.id, option.id, VALUES[code], ctx.now)
    ctx.answer(ctx.t("polls.dates.saved"))
    await redraw(ctx, poll)


async def make_meeting(ctx: Ctx, poll_id: int, option_id: int | None) -> None:
    """The chosen slot becomes a meeting open for registration; the answerers are told."""
    poll = await store.get_poll(ctx.session, poll_id, lock=True)
    if poll is None or poll.kind != store.DATES or not await ctx.may_manage_group(poll.group_id):
        ctx.refuse()
        return
    option = next((o for o in poll.options if o.id == option_id), None)
    if option is None:
        raise BadButton("not a slot of this poll")
    if poll.meeting_id is not None:
        ctx.answer(ctx.t("polls.dates.already_meeting"), alert=True)
        ctx.say("polls.dates.already_meeting")
        return
    draft = meetings_store.SessionDraft(option.starts_at, option.ends_at, option.has_time, None, None, None)  # type: ignore[arg-type]
    meeting = await meetings_store.create_meeting(
        ctx.session,
        group_id=poll.group_id,
        title=poll.question[:200],
        theme=None,
        created_by=ctx.user.id,
        sessions=[draft],
    )
    await store.link_meeting(ctx.session, poll, meeting, ctx.now)
    await outbox.drop_pending(ctx.session, store.purpose(poll.id, "ask"))
    session_id = meeting.sessions[0].id
    tz = ctx.services.settings.timezone
    answerers = await store.answerer_ids(ctx.session, poll.id)
    told = await notify.notify(
        ctx.session,
        answerers,
        purpose=store.purpose(poll.id, "meeting"),
        render=lambda lang: (
            t("polls.dates.meeting_announce", lang, title=poll.question, when=slot_text(option, lang, tz)),
            [[(t("polls.dates.button_register", lang), f"m:reg:{session_id}")]],
        ),
        default_lang=ctx.services.settings.default_locale,
    )
    ctx.wake_outbox = True
    ctx.answer(ctx.t("polls.dates.meeting_done_toast"))
    ctx.send(ctx.tn("polls.dates.meeting_created", told, title=poll.question, when=slot_text(option, ctx.lang, tz)))
