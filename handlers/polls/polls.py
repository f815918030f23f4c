"""Creating polls (/sondage, /sondage_dates, questionnaires) and counting native poll answers.

One guided conversation ("poll_new") serves the three kinds: the first steps differ (a question
and its options, a title and its slots, a title and its questions), then come the deadline,
the audience and a confirmation. Answers to native Telegram polls arrive as `poll_answer`
updates (private chats, sent non-anonymous so that the bot can count them; anonymity is kept in
our results, see storage/polls.py) or as `poll` updates (totals of an anonymous poll in a group
chat).
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import notify
from bot.dates import DateParseError, When, date_examples, error_message, format_deadline, format_when, parse_when
from bot.i18n import SafeHTML, normalize_locale, t
from bot.services import Services
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonRouter, coordinators_only
from handlers.core.common import Ctx, handler, int_or_none, run_once
from handlers.core.render import meeting_picker
from handlers.polls.date_polls import queue_date_poll
from handlers.polls.questionnaires import queue_invitations
from storage import dialogs, outbox
from storage import meetings as meetings_store
from storage import polls as store
from storage import users as users_store
from storage.models import Dialog, Group, OutboxMessage, User, utcnow
from storage.polls_models import Poll

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

log = logging.getLogger(__name__)

FLOW = "poll_new"
DONE_WORDS = {"fin", "termine", "c'est tout", "cest tout", "ok", "done"}
FIRST_STEP = {store.QUICK: "options", store.DATES: "slots", store.FORM: "questions"}


# --------------------------------------------------------------------------- rendering helpers


def has_words(text: str) -> bool:
    """A question made only of punctuation or spaces is empty."""
    return any(ch.isalnum() for ch in text)


def lines_of(text: str) -> list[str]:
    """One entry per non-empty line, list bullets removed."""
    return [line.strip().lstrip("-•*·").strip() for line in text.splitlines() if line.strip().lstrip("-•*·").strip()]


# --------------------------------------------------------------------------- commands


async def start_wizard(ctx: Ctx, kind: str) -> None:
    if not await ctx.is_coordinator():
        ctx.refuse()
        return
    await dialogs.start(ctx.session, ctx.user.id, ctx.chat_id, FLOW, "question", {"kind": kind})
    ctx.say(
        {store.QUICK: "polls.ask_question", store.DATES: "polls.dates.ask_title", store.FORM: "polls.form.ask_title"}[
            kind
        ]
    )


@handler
async def on_poll_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sondage: a native poll for a group, a profession, a meeting's registrants or a group chat."""
    await start_wizard(ctx, store.QUICK)


@handler
async def on_date_poll_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/sondage_dates: propose slots, everyone answers oui / si besoin / non."""
    await start_wizard(ctx, store.DATES)


@router.on("p:f", "new", args=1)
async def pressed_new_form(ctx: Ctx, button: Button) -> None:
    """p:f:new:0 (under /questionnaire): a coordinator starts a questionnaire."""
    button.int(0)
    await start_wizard(ctx, store.FORM)


# --------------------------------------------------------------------------- text steps


async def step_question(ctx: Ctx, dlg: Dialog, text: str) -> None:
    question = " ".join(text.split())
    if not has_words(question):
        ctx.say("polls.error.empty_question")
        return
    if len(question) > store.QUESTION_MAX:
        ctx.say("polls.error.question_too_long", limit=store.QUESTION_MAX)
        return
    kind = dlg.data["kind"]
    dialogs.advance(dlg, FIRST_STEP[kind], question=question, items=[])
    first = {
        store.QUICK: "polls.ask_options",
        store.DATES: "polls.dates.ask_slots",
        store.FORM: "polls.form.ask_questions",
    }[kind]
    ctx.say(first, None, **date_examples(ctx.now, ctx.services.settings.timezone))


def done_button(ctx: Ctx) -> list[list[tuple[str, str]]]:
    return [[(ctx.t("polls.button_done"), "p:n:done:0")]]


def is_done_word(text: str) -> bool:
    return dialog.normalized(text) in DONE_WORDS


async def step_options(ctx: Ctx, dlg: Dialog, text: str) -> None:
    """Choices of a quick poll, one per line, over one or several messages."""
    if is_done_word(text):
        await finish_items(ctx, dlg)
        return
    items: list[str] = list(dlg.data.get("items", []))
    new = [" ".join(line.split()) for line in lines_of(text)]
    if len(items) + len(new) > store.MAX_OPTIONS:
        ctx.say("polls.error.too_many_options", limit=store.MAX_OPTIONS)
        return
    too_long = next((o for o in new if len(o) > store.OPTION_MAX), None)
    if too_long is not None:
        ctx.say("polls.error.option_too_long", option=too_long[:40] + "…", limit=store.OPTION_MAX)
        return
    seen = {dialog.normalized(o) for o in items}
    for option in new:
        key = dialog.normalized(option)
        if key in seen or not has_words(option):
            ctx.say("polls.error.duplicate_option" if key in seen else "polls.error.empty_option", option=option)
            return
        seen.add(key)
    items += new
    dialogs.advance(dlg, "options", items=items)
    listing = "\n".join(f"{i}. {o}" for i, o in enumerate(items, 1))
    key = "polls.options_so_far" if len(items) >= 2 else "polls.options_need_more"
    ctx.say(key, done_button(ctx) if len(items) >= 2 else None, listing=listing, n=len(items), limit=store.MAX_OPTIONS)


async def step_slots(ctx: Ctx, dlg: Dialog, text: str) -> None:
    """Slots of a date poll, each typed in French, one per line."""
    if is_done_word(text):
        await finish_items(ctx, dlg)
        return
    items: list[dict[str, Any]] = list(dlg.data.get("items", []))
    new_lines = lines_of(text)
    if len(items) + len(new_lines) > store.MAX_SLOTS:
        ctx.say("polls.error.too_many_slots", limit=store.MAX_SLOTS)
        return
    tz = ctx.services.settings.timezone
    parsed = []
    for line in new_lines:
        try:
            when = parse_when(line, now=ctx.now, tz=tz)
        except DateParseError as err:
            reason = error_message(err, ctx.lang, hint=True, now=ctx.now, tz=tz)
            ctx.say("polls.error.bad_slot", line=line, reason=reason)
            return
        parsed.append(when)
    seen = {(s["start"], s.get("end")) for s in items}
    for line, when in zip(new_lines, parsed, strict=True):
        key = (when.start.isoformat(), when.end.isoformat() if when.end else None)
        if key in seen:
            ctx.say("polls.error.duplicate_slot", slot=line)
            return
        seen.add(key)
        items.append({"start": key[0], "end": key[1], "has_time": when.has_time, "period": when.period})
    items.sort(key=lambda slot: datetime.fromisoformat(slot["start"]))  # numbered in time order everywhere
    dialogs.advance(dlg, "slots", items=items)
    listing = "\n".join(f"{i}. {slot_label(s, ctx.lang, tz)}" for i, s in enumerate(items, 1))
    prompt = "polls.dates.slots_so_far" if len(items) >= 2 else "polls.dates.slots_need_more"
    ctx.say(prompt, done_button(ctx) if len(items) >= 2 else None, listing=listing, n=len(items), limit=store.MAX_SLOTS)


def slot_when(slot: dict[str, Any]) -> When:
    return When(
        datetime.fromisoformat(slot["start"]),
        datetime.fromisoformat(slot["end"]) if slot.get("end") else None,
        bool(slot.get("has_time", True)),
        slot.get("period"),
    )


def slot_label(slot: dict[str, Any], lang: str, tz: str) -> str:
    return format_when(slot_when(slot), lang, tz)


async def step_questions(ctx: Ctx, dlg: Dialog, text: str) -> None:
    """Questionnaire questions, one per message: first line the question, next lines its choices."""
    if is_done_word(text):
        await finish_items(ctx, dlg)
        return
    items: list[dict[str, Any]] = list(dlg.data.get("items", []))
    if len(items) >= store.MAX_QUESTIONS:
        ctx.say("polls.error.too_many_questions", limit=store.MAX_QUESTIONS)
        return
    lines = [" ".join(line.split()) for line in lines_of(text)]
    if not lines or not has_words(lines[0]):
        ctx.say("polls.error.empty_question")
        return
    question, choices = lines[0], lines[1:]
    if len(question) > store.QUESTION_MAX:
        ctx.say("polls.error.question_too_long", limit=store.QUESTION_MAX)
        return
    if len(choices) == 1 or len(choices) > store.MAX_OPTIONS:
        ctx.say("polls.error.choices_count", limit=store.MAX_OPTIONS)
        return
    keys = [dialog.normalized(c) for c in choices]
    duplicate = next((c for i, c in enumerate(choices) if keys[i] in keys[:i]), None)
    if duplicate is not None:
        ctx.say("polls.error.duplicate_option", option=duplicate)
        return
    if any(len(c) > store.OPTION_MAX for c in choices):
        ctx.say(
            "polls.error.option_too_long",
            option=next(c for c in choices if len(c) > store.OPTION_MAX)[:40] + "…",
            limit=store.OPTION_MAX,
        )
        return
    items.append({"text": question, "choices": choices or None})
    dialogs.advance(dlg, "questions", items=items)
    listing = "\n".join(
        f"{i}. {q['text']}"
        + (f" ({' / '.join(q['choices'])})" if q["choices"] else f" — {ctx.t('polls.form.free_text')}")
        for i, q in enumerate(items, 1)
    )
    ctx.say("polls.form.questions_so_far", done_button(ctx), listing=listing, n=len(items), limit=store.MAX_QUESTIONS)


async def finish_items(ctx: Ctx, dlg: Dialog) -> None:
    """ "C'est tout": enough items? then the next question of the wizard."""
    kind, items = dlg.data["kind"], dlg.data.get("items", [])
    needed = 1 if kind == store.FORM else 2
    if len(items) < needed:
        ctx.say(
            {
                store.QUICK: "polls.error.too_few_options",
                store.DATES: "polls.error.too_few_slots",
                store.FORM: "polls.error.no_question",
            }[kind]
        )
        return
    if kind == store.QUICK:
        dialogs.advance(dlg, "multi")
        ctx.say(
            "polls.ask_multiple",
            [[(ctx.t("polls.button_single"), "p:n:multi:0"), (ctx.t("polls.button_multiple"), "p:n:multi:1")]],
        )
        return
    dialogs.advance(dlg, "deadline")
    ctx.say("polls.ask_deadline", None, **date_examples(ctx.now, ctx.services.settings.timezone))


async def step_deadline(ctx: Ctx, dlg: Dialog, text: str) -> None:
    tz = ctx.services.settings.timezone
    try:
        when = parse_when(text, now=ctx.now, tz=tz)
    except DateParseError as err:
        ctx.say("polls.error.bad_deadline", reason=error_message(err, ctx.lang, hint=True, now=ctx.now, tz=tz))
        return
    closes_at = when.start
    if not when.has_time:  # a day alone: open until the end of that day
        closes_at = datetime.combine(when.start.date(), time(23, 59), when.start.tzinfo)
    if closes_at <= ctx.now + timedelta(minutes=1):
        ctx.say("polls.error.deadline_past")
        return
    dialogs.advance(dlg, "group", closes_at=closes_at.isoformat())
    await ask_group(ctx)


async def ask_group(ctx: Ctx) -> None:
    managed = await ctx.coordinated_group_ids()
    groups = [g for g in await users_store.list_groups(ctx.session) if managed is None or g.id in managed]
    if not groups:
        ctx.say("polls.error.no_group")
        return
    ctx.say("polls.ask_group", [[(g.name[:60], f"p:n:group:{g.id}")] for g in groups])


# --------------------------------------------------------------------------- button steps


async def pressed_multi(ctx: Ctx, dlg: Dialog, button: Button) -> None:
    dialogs.advance(dlg, "anon", multiple=button.choice(0, ("0", "1")) == "1")
    ctx.edit(
        ctx.t("polls.ask_anonymous"),
        [[(ctx.t("polls.button_named"), "p:n:anon:0"), (ctx.t("polls.button_anonymous"), "p:n:anon:1")]],
    )


async def pressed_anonymous(ctx: Ctx, dlg: Dialog, button: Button) -> None:
    dialogs.advance(dlg, "deadline", anonymous=button.choice(0, ("0", "1")) == "1")
    ctx.edit(ctx.t("polls.ask_deadline", **date_examples(ctx.now, ctx.services.settings.timezone)))


async def pressed_profession(ctx: Ctx, dlg: Dialog, button: Button) -> None:
    profession = button.choice(0, users_store.PROFESSIONS)
    dialogs.advance(
        dlg, "confirm", audience=store.Audience("profession", dlg.data["group_id"], profession=profession).to_json()
    )
    await show_confirmation(ctx, dlg)


async def pressed_send(ctx: Ctx, dlg: Dialog, button: Button) -> None:
    if button.choice(0, ("0", "1")) == "1":
        await publish(ctx, dlg)
        return
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.edit(ctx.t("dialog.cancelled"))


async def choose_group(ctx: Ctx, dlg: Dialog, group_id: int | None) -> None:
    group = await ctx.session.get(Group, group_id) if group_id is not None else None
    if group is None or not await ctx.may_manage_group(group.id):
        ctx.refuse()
        return
    dialogs.advance(dlg, "audience", group_id=group.id)
    rows = [
        [(ctx.t("polls.audience_group"), "p:n:aud:g")],
        [(ctx.t("polls.audience_profession"), "p:n:aud:p")],
        [(ctx.t("polls.audience_meeting"), "p:n:aud:m")],
    ]
    if group.chat_id and dlg.data["kind"] == store.QUICK:
        rows.append([(ctx.t("polls.audience_chat"), "p:n:aud:c")])
    ctx.edit(ctx.t("polls.ask_audience", group=group.name), rows)


async def choose_audience(ctx: Ctx, dlg: Dialog, value: str) -> None:
    group_id = int(dlg.data["group_id"])
    if value == "g":
        dialogs.advance(dlg, "confirm", audience=store.Audience("group", group_id).to_json())
        await show_confirmation(ctx, dlg)
    elif value == "c" and dlg.data["kind"] == store.QUICK:
        dialogs.advance(dlg, "confirm", audience=store.Audience("chat", group_id).to_json())
        await show_confirmation(ctx, dlg)
    elif value == "p":
        dialogs.advance(dlg, "profession")
        labels = [(ctx.t(f"profession.{code}"), f"p:n:prof:{code}") for code in users_store.PROFESSIONS]
        ctx.edit(ctx.t("polls.ask_profession"), [labels[i : i + 2] for i in range(0, len(labels), 2)])
    elif value == "m":
        meetings = await meetings_store.meetings_managed_by(ctx.session, group_ids=[group_id], now=ctx.now)
        if not meetings:
            ctx.answer(ctx.t("polls.error.no_meeting"), alert=True)
            return
        dialogs.advance(dlg, "meeting")
        tz = ctx.services.settings.timezone
        keyboard = meeting_picker(meetings, lambda m: f"p:n:meet:{m.id}", lang=ctx.lang, tz=tz, now=ctx.now, limit=20)
        ctx.edit(ctx.t("polls.ask_meeting"), keyboard)
    else:
        raise BadButton("an audience this poll cannot have")


async def choose_meeting(ctx: Ctx, dlg: Dialog, meeting_id: int | None) -> None:
    meeting = await meetings_store.get_meeting(ctx.session, meeting_id) if meeting_id is not None else None
    if meeting is None or meeting.group_id != int(dlg.data["group_id"]):
        raise BadButton("not a meeting of this group")
    dialogs.advance(
        dlg, "confirm", audience=store.Audience("meeting", meeting.group_id, meeting_id=meeting.id).to_json()
    )
    await show_confirmation(ctx, dlg)


router.on_step(
    "p:n", "done", FLOW, lambda ctx, dlg, button: finish_items(ctx, dlg), steps={"options", "slots", "questions"}
)
router.on_step("p:n", "multi", FLOW, pressed_multi, steps={"multi"})
router.on_step("p:n", "anon", FLOW, pressed_anonymous, steps={"anon"})
router.on_step(
    "p:n", "group", FLOW, lambda ctx, dlg, button: choose_group(ctx, dlg, int_or_none(button.text(0))), steps={"group"}
)
router.on_step(
    "p:n", "aud", FLOW, lambda ctx, dlg, button: choose_audience(ctx, dlg, button.text(0)), steps={"audience"}
)
router.on_step("p:n", "prof", FLOW, pressed_profession, steps={"profession"})
router.on_step(
    "p:n",
    "meet",
    FLOW,
    lambda ctx, dlg, button: choose_meeting(ctx, dlg, int_or_none(button.text(0))),
    steps={"meeting"},
)
router.on_step("p:n", "send", FLOW, pressed_send, steps={"confirm"})
router.guard("p:n", coordinators_only)


async def audience_label(ctx: Ctx, audience: store.Audience) -> str:
    group = await ctx.session.get(Group, audience.group_id)
    name = group.name if group else "?"
    if audience.kind == "profession":
        return ctx.t(
            "polls.audience_label_profession", group=name, profession=ctx.t(f"profession.{audience.profession}")
        )
    if audience.kind == "meeting":
        meeting = await meetings_store.get_meeting(ctx.session, audience.meeting_id or 0)
        return ctx.t("polls.audience_label_meeting", meeting=meeting.title if meeting else "?")
    if audience.kind == "chat":
        return ctx.t("polls.audience_label_chat", group=name)
    return ctx.t("polls.audience_label_group", group=name)


async def show_confirmation(ctx: Ctx, dlg: Dialog) -> None:
    audience = store.Audience.from_json(dlg.data["audience"])
    recipients = await store.audience_recipients(ctx.session, audience)
    if not recipients:
        dialogs.advance(dlg, "group")
        ctx.edit(ctx.t("polls.error.nobody"))
        await ask_group(ctx)
        return
    data, tz = dlg.data, ctx.services.settings.timezone
    kind = data["kind"]
    if kind == store.QUICK:
        items = "\n".join(f"• {o}" for o in data["items"])
        mode = ctx.t("polls.mode_multiple" if data.get("multiple") else "polls.mode_single")
        mode += " · " + ctx.t("polls.mode_anonymous" if data.get("anonymous") else "polls.mode_named")
    elif kind == store.DATES:
        items = "\n".join(f"• {slot_label(s, ctx.lang, tz)}" for s in data["items"])
        mode = ctx.t("polls.dates.mode")
    else:
        items = "\n".join(f"• {q['text']}" for q in data["items"])
        mode = ctx.t("polls.form.mode")
    who = SafeHTML(await audience_label(ctx, audience))  # already escaped by ctx.t
    count = ctx.tn("polls.recipients", len(recipients)) if audience.kind != "chat" else ctx.t("polls.recipients_chat")
    ctx.edit(
        ctx.t(
            "polls.confirm",
            question=data["question"],
            items=items,
            mode=mode,
            deadline=format_deadline(datetime.fromisoformat(data["closes_at"]), ctx.lang, tz),
            audience=who,
            count=count,
        ),
        [[(ctx.t("polls.button_send"), "p:n:send:1"), (ctx.t("common.cancel"), "p:n:send:0")]],
    )


# --------------------------------------------------------------------------- publishing


def drafts_from(data: dict[str, Any]) -> list[store.OptionDraft]:
    kind = data["kind"]
    if kind == store.QUICK:
        return [store.OptionDraft(text) for text in data["items"]]
    if kind == store.DATES:
        drafts = []
        for slot in data["items"]:
            when = slot_when(slot)
            drafts.append(store.OptionDraft(when.period or "", when.start, when.end, when.has_time))
        return drafts
    return [store.OptionDraft(q["text"], choices=q["choices"]) for q in data["items"]]


async def publish(ctx: Ctx, dlg: Dialog) -> None:
    """Create the poll and queue every recipient's message, in this one transaction."""
    data = dict(dlg.data)
    audience = store.Audience.from_json(data["audience"])
    if not await ctx.may_manage_group(audience.group_id):
        ctx.refuse()
        return
    closes_at = datetime.fromisoformat(data["closes_at"])
    if closes_at <= ctx.now:
        dialogs.advance(dlg, "deadline")
        ctx.edit(ctx.t("polls.error.deadline_past"))
        return
    poll, recipients = await store.create_poll(
        ctx.session,
        kind=data["kind"],
        question=data["question"],
        options=drafts_from(data),
        audience=audience,
        closes_at=closes_at,
        created_by=ctx.user.id,
        multiple=bool(data.get("multiple")),
        anonymous=bool(data.get("anonymous")),
    )
    send = await outbox.new_send(ctx.session, kind=f"poll_{poll.kind}", label=poll.question, created_by=ctx.user.id)
    poll.send_id = send.id
    if poll.kind == store.QUICK:
        queued = await queue_native_polls(ctx, poll, recipients, send.id)
    elif poll.kind == store.DATES:
        queued = await queue_date_poll(ctx, poll, [uid for _, uid in recipients if uid is not None], send.id)
    else:
        queued = await queue_invitations(ctx, poll, [uid for _, uid in recipients if uid is not None], send.id)
    await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)
    ctx.wake_outbox = True
    ctx.edit(ctx.tn("polls.sent", queued, question=poll.question))


def intro_text(poll: Poll, lang: str, tz: str, *, author: str, chat: bool) -> str:
    deadline = format_deadline(poll.closes_at, lang, tz)
    if chat:
        key = "polls.intro_chat_anonymous" if poll.anonymous else "polls.intro_chat_named"
    else:
        key = "polls.intro_anonymous" if poll.anonymous else "polls.intro_named"
    text = t(key, lang, author=author, deadline=deadline)
    if poll.multiple:
        text += "\n" + t("polls.intro_multiple", lang)
    return text


async def queue_native_polls(ctx: Ctx, poll: Poll, recipients: list[tuple[int, int | None]], send_id: int) -> int:
    """Per chat: a short intro (who asks, until when, anonymity) then the native poll."""
    tz, default = ctx.services.settings.timezone, ctx.services.settings.default_locale
    langs = await notify.languages(ctx.session, [uid for _, uid in recipients if uid is not None], default)
    poll_payload = {
        "question": poll.question,
        "options": [{"text": o.text} for o in poll.options],
        "allows_multiple_answers": poll.multiple,
    }
    rows: list[dict[str, Any]] = []
    for chat_id, user_id in recipients:
        if user_id is not None and user_id not in langs:
            continue
        lang = langs.get(user_id, default) if user_id is not None else default
        chat = user_id is None
        intro = intro_text(poll, lang, tz, author=ctx.user.display_name, chat=chat)
        rows.append(
            {
                "purpose": store.purpose(poll.id, "intro"),
                "chat_id": chat_id,
                "user_id": user_id,
                "payload": notify.message_payload(intro),
                "mentions": [ctx.user.id],  # the intro names its author
            }
        )
        # Telegram only reports who answered a non-anonymous poll: private polls are sent that way
        # (each recipient is alone in their chat); a group chat gets Telegram's own anonymity.
        payload = {**poll_payload, "is_anonymous": poll.anonymous if chat else False}
        rows.append(
            {
                "purpose": store.purpose(poll.id, "send"),
                "chat_id": chat_id,
                "user_id": user_id,
                "payload": payload,
                "method": "sendPoll",
            }
        )
    # NORMAL priority = at most once (bot/outbox.py): a poll sent twice would split a person's vote.
    await outbox.enqueue_many(ctx.session, rows, priority=outbox.NORMAL, send_id=send_id)
    return len(rows) // 2


# --------------------------------------------------------------------------- answers to native polls


async def on_poll_sent(session: Any, row_id: int, chat_id: int, result: Any) -> None:
    """After-send hook for every sendPoll: ours ("poll:<id>:send") record Telegram's poll id.

    Without it answers still count: they are matched to the voter's only open poll (storage/polls.py).
    """
    purpose_text = await session.scalar(select(OutboxMessage.purpose).where(OutboxMessage.id == row_id))
    if purpose_text and purpose_text.startswith("poll:"):
        await store.record_sent_poll(session, purpose_text, chat_id, result)


async def on_poll_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A vote, a changed vote or a retraction (empty option_ids) on one of our native polls."""
    answer = update.poll_answer
    if answer is None or answer.user is None:  # a vote "as the group": nobody to count
        return
    services: Services = context.bot_data["services"]
    voter = answer.user

    async def record(session: AsyncSession) -> tuple[str, str]:
        user = await users_store.upsert_user(
            session, voter.id, first_name=voter.first_name or "", last_name=voter.last_name, username=voter.username
        )
        lang = user.language or normalize_locale(voter.language_code, services.settings.default_locale)
        outcome = await store.record_native_answer(
            session, str(answer.poll_id), voter.id, list(answer.option_ids), utcnow()
        )
        return outcome, lang

    done = await run_once(services, update, "polls.on_poll_answer", record)
    if done is None:
        return
    outcome, lang = done
    if outcome == "closed":
        try:
            await context.bot.send_message(voter.id, t("polls.answer_after_close", lang))
        except TelegramError:  # the voter never opened a private chat with the bot
            log.info("could not tell voter %s that the poll is closed", voter.id)


async def on_poll_state(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Totals of an anonymous poll sent to a group chat (Telegram's only report for those)."""
    poll = update.poll
    if poll is None or not poll.is_anonymous:  # named polls are counted voter by voter (poll_answer)
        return
    services: Services = context.bot_data["services"]

    async def record(session: AsyncSession) -> bool:
        await store.record_chat_counts(
            session, str(poll.id), poll.question, [o.voter_count for o in poll.options], poll.total_voter_count
        )
        return True

    # Once only: an older state delivered again must not replace newer totals.
    await run_once(services, update, "polls.on_poll_state", record)


async def coordinator_lang(session: Any, user_id: int | None, default: str) -> str:
    user = await session.get(User, user_id) if user_id is not None else None
    return (user.language if user is not None else None) or default


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FLOW: {
        "question": step_question,
        "options": step_options,
        "slots": step_slots,
        "questions": step_questions,
        "deadline": step_deadline,
    },
}
