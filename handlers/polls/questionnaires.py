"""Questionnaires (/questionnaire): a few questions answered one at a time in private chat.

Progress is the set of answers already saved, so an interrupted questionnaire (another
command, /annuler, a restart, a day later) resumes at the first unanswered question from
/questionnaire or the invitation's button. Choice questions are answered with buttons; free
text questions with a message (a small guided conversation that only remembers which
question is being answered).
"""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot import notify
from bot.dates import format_deadline
from bot.i18n import t, tn
from handlers.core import dialog
from handlers.core.buttons import BadButton, Button, ButtonRouter
from handlers.core.common import Ctx, handler, int_or_none
from storage import dialogs, outbox
from storage import polls as store
from storage.models import Dialog
from storage.polls_models import Poll, PollOption

router = ButtonRouter()  # this module's buttons; handlers.install merges every feature's routers

FORM_FLOW = "poll_form"
TEXT_MAX = 2000


async def queue_invitations(ctx: Ctx, poll: Poll, user_ids: list[int], send_id: int) -> int:
    tz = ctx.services.settings.timezone
    author = ctx.user.display_name
    return await notify.notify(
        ctx.session,
        user_ids,
        purpose=store.purpose(poll.id, "ask"),
        render=lambda lang: (
            t(
                "polls.form.invite",
                lang,
                author=author,
                title=poll.question,
                questions=tn("polls.form.questions", len(poll.options), lang),
                deadline=format_deadline(poll.closes_at, lang, tz),
            ),
            [[(t("polls.form.button_start", lang), f"p:f:go:{poll.id}")]],
        ),
        default_lang=ctx.services.settings.default_locale,
        priority=outbox.HIGH,
        send_id=send_id,
        mentions=[ctx.user.id],
    )


@handler
async def on_questionnaire_command(ctx: Ctx, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/questionnaire: questionnaires waiting for my answers (resume where I stopped); coordinators create one."""
    pending = await store.pending_forms(ctx.session, ctx.user.id, ctx.now)
    coordinator = await ctx.is_coordinator()
    if not pending and not coordinator:
        ctx.say("polls.form.nothing_pending")
        return
    rows = []
    for poll, answered in pending:
        key = "polls.form.button_resume" if answered else "polls.form.button_answer"
        rows.append(
            [(ctx.t(key, title=poll.question[:40], done=answered, total=len(poll.options)), f"p:f:go:{poll.id}")]
        )
    if coordinator:
        rows.append([(ctx.t("polls.form.button_new"), "p:f:new:0")])
    ctx.say("polls.form.menu" if pending else "polls.form.menu_empty", rows)


@router.on("p:f", "go", args=1)
async def pressed_go(ctx: Ctx, button: Button) -> None:
    """p:f:go:<poll>: answer, or resume answering."""
    poll = await store.get_poll(ctx.session, button.int(0))
    if await may_answer(ctx, poll):
        await show_next(ctx, poll)  # type: ignore[arg-type]


@router.on("p:f", "a", args=2)
async def pressed_choice(ctx: Ctx, button: Button) -> None:
    """p:f:a:<question>:<choice>: one of a question's choices."""
    await answer_choice(ctx, button.int(0), int_or_none(button.text(1)))


async def may_answer(ctx: Ctx, poll: Poll | None) -> bool:
    """Only recipients, only while the questionnaire is open (forged or late buttons change nothing)."""
    if poll is None or poll.kind != store.FORM or not await store.is_recipient(ctx.session, poll.id, ctx.user.id):
        ctx.refuse("polls.error.not_recipient")
        return False
    if not store.is_open(poll, ctx.now):
        ctx.refuse("polls.error.closed")
        await leave_form_dialog(ctx)
        return False
    return True


async def leave_form_dialog(ctx: Ctx) -> None:
    current = await dialogs.current(ctx.session, ctx.user.id, ctx.chat_id)
    if current is not None and current.flow == FORM_FLOW:
        await dialogs.finish(ctx.session, ctx.user.id, ctx.chat_id)


async def show_next(ctx: Ctx, poll: Poll) -> None:
    """The first unanswered question, or thanks when everything is answered."""
    question, answered = await store.next_question(ctx.session, poll, ctx.user.id)
    if question is None:
        await leave_form_dialog(ctx)
        ctx.say("polls.form.thanks", title=poll.question)
        return
    header = ctx.t(
        "polls.form.question",
        n=question.position + 1,
        total=len(poll.options),
        title=poll.question,
        question=question.text,
    )
    if question.choices:
        await leave_form_dialog(ctx)
        ctx.send(header, [[(choice[:60], f"p:f:a:{question.id}:{i}")] for i, choice in enumerate(question.choices)])
    else:
        await dialogs.start(
            ctx.session, ctx.user.id, ctx.chat_id, FORM_FLOW, "text", {"poll": poll.id, "question": question.id}
        )
        ctx.send(f"{header}\n{ctx.t('polls.form.type_answer')}")


async def answer_choice(ctx: Ctx, question_id: int, choice: int | None) -> None:
    question = await ctx.session.get(PollOption, question_id)
    poll = await store.get_poll(ctx.session, question.poll_id) if question is not None else None
    if not await may_answer(ctx, poll):
        return
    assert poll is not None and question is not None
    if not question.choices or choice is None or not 0 <= choice < len(question.choices):
        raise BadButton("not a choice of this question")
    await store.save_form_answer(ctx.session, poll, ctx.user.id, question.id, choice=choice, now=ctx.now)
    ctx.answer(ctx.t("polls.form.saved"))
    ctx.edit(ctx.t("polls.form.answered", question=question.text, answer=question.choices[choice]))
    await show_next(ctx, poll)


async def step_text(ctx: Ctx, dlg: Dialog, text: str) -> None:
    """A free-text answer to the question this conversation remembers."""
    poll = await store.get_poll(ctx.session, int(dlg.data["poll"]))
    if not await may_answer(ctx, poll):
        return
    assert poll is not None
    question = next((q for q in poll.options if q.id == dlg.data.get("question")), None)
    answer = text.strip()
    if question is None:
        await show_next(ctx, poll)
        return
    if not answer:
        ctx.say("polls.form.empty_answer")
        return
    if len(answer) > TEXT_MAX:
        ctx.say("polls.form.answer_too_long", limit=TEXT_MAX)
        return
    await store.save_form_answer(ctx.session, poll, ctx.user.id, question.id, text=answer, now=ctx.now)
    await show_next(ctx, poll)


# The guided conversations of this module, installed by handlers.install.
FLOWS: dict[str, dict[str, dialog.StepFn]] = {
    FORM_FLOW: {"text": step_text},
}
